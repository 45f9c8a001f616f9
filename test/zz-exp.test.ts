import { App, Validations } from 'aws-cdk-lib'
import { AwsSolutionsChecks } from 'cdk-nag'
import { it } from 'vitest'
import { readHuddleConfig } from '../lib/config.js'
import { HuddleStack } from '../lib/huddle-stack.js'

for (const nag of [false, true, false, true]) {
  it(`exp nag=${nag}`, () => {
    let t = Date.now()
    const lap = (l: string) => { console.log(l, Date.now() - t); t = Date.now() }
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [], '@aws-cdk/core:failSynthOnValidationErrors': false } })
    const stack = new HuddleStack(app, 'Huddle', { config: readHuddleConfig(() => undefined).config })
    lap('construct')
    if (nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app))
    app.synth()
    lap(`synth nag=${nag}`)
  })
}
