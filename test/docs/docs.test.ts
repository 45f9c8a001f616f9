import { existsSync, readFileSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { App, Validations } from 'aws-cdk-lib'
import { Template } from 'aws-cdk-lib/assertions'
import { AwsSolutionsChecks } from 'cdk-nag'
import { describe, expect, it } from 'vitest'
import { readResults, renderResults, reportFile } from '../../bench/report.js'
import { readHuddleConfig } from '../../lib/config.js'
import { HuddleStack } from '../../lib/huddle-stack.js'
import { cdkJson } from '../support/cdk-context.js'

const root = fileURLToPath(new URL('../..', import.meta.url))

/** README.md and every page under docs/, as paths from the repository's root. */
async function pages(): Promise<string[]> {
  const docs = (await readdir(join(root, 'docs'))).filter((name) => name.endsWith('.md'))
  return ['README.md', ...docs.map((name) => `docs/${name}`)]
}

/** The anchors GitHub gives a page's headings (those outside code blocks). */
function anchors(markdown: string): Set<string> {
  const prose = markdown.replace(/```[\s\S]*?```/g, '')
  const headings = [...prose.matchAll(/^#{1,6} (.+)$/gm)].map((m) => m[1] ?? '')
  return new Set(
    headings.map((heading) =>
      heading
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\- _]/gu, '')
        .replace(/ /g, '-'),
    ),
  )
}

/** Every relative link target of a page: `[text](target)`, outside code blocks. */
function relativeLinks(markdown: string): string[] {
  const prose = markdown.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '')
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1] ?? '')
    .filter((target) => !/^[a-z]+:/i.test(target))
}

describe('docs', () => {
  it('benchmark-results.md is what bench/report.ts makes of bench/results.json, not edited by hand', async () => {
    const committed = await readFile(reportFile, 'utf8')
    expect(committed.split('\n')[0]).toContain('do not edit by hand')
    expect(committed).toBe(renderResults(await readResults()))
  })

  it('the report says which benchmarks have recorded nothing, rather than failing', () => {
    const report = renderResults({})
    for (const section of ['Fan-out', 'Load', 'Encrypted groups', 'Trust checks', 'Cold starts'])
      expect(report).toContain(`## ${section}`)
    expect(report).toContain('No figures for the fan-out in bench/results.json yet')
    expect(report).toContain('No figures for cold starts in bench/results.json yet')
  })

  it('every relative link in README.md and docs/ reaches a file, and a heading where it names one', async () => {
    const broken: string[] = []
    for (const page of await pages()) {
      const markdown = await readFile(join(root, page), 'utf8')
      for (const link of relativeLinks(markdown)) {
        const [path = '', anchor] = link.split('#')
        const target = path === '' ? join(root, page) : join(root, dirname(page), decodeURI(path))
        if (!existsSync(target)) {
          broken.push(`${page}: ${link} (no ${relative(root, target)})`)
          continue
        }
        if (anchor && target.endsWith('.md') && !anchors(await readFile(target, 'utf8')).has(anchor))
          broken.push(`${page}: ${link} (no such heading)`)
      }
    }
    expect(broken).toEqual([])
  })

  it('README gives both commands near the top and links into every page of docs/', async () => {
    const readme = await readFile(join(root, 'README.md'), 'utf8')
    const top = readme.split('\n').slice(0, 60).join('\n')
    expect(top).toContain('npm start')
    expect(top).toContain('npm test')
    const linked = new Set(relativeLinks(readme).map((link) => link.split('#')[0]))
    const docs = (await pages()).filter((page) => page.startsWith('docs/'))
    expect(docs.filter((page) => !linked.has(page))).toEqual([])
  })

  it('the deploy walk-through’s stage, added to cdk.json as README and deployment.md say, synthesizes with cdk-nag', async () => {
    /** The first JSON block and the `cdk deploy` command under a page's heading. */
    const walkThrough = async (page: string, heading: string) => {
      const markdown = await readFile(join(root, page), 'utf8')
      const section = markdown.slice(markdown.indexOf(heading))
      const stage = section.match(/```json\n([\s\S]*?)```/)?.[1] ?? ''
      const deploy = section.match(/npx cdk deploy -c stage=([\w-]+)/)?.[1]
      return { stages: JSON.parse(`{${stage}}`) as Record<string, unknown>, deploy }
    }
    const readme = await walkThrough('README.md', '## Deploy: from `cdk deploy` to people chatting')
    const guide = await walkThrough('docs/deployment.md', '## From `cdk deploy` to people chatting')
    expect(readme).toEqual(guide)
    const [name] = Object.keys(guide.stages)
    expect(guide.deploy).toBe(name)

    // cdk.json as the reader leaves it, and `-c stage=<name>`, as `cdk synth` reads them (bin/app.ts).
    const context: Record<string, unknown> = {
      ...cdkJson.context,
      stages: { ...(cdkJson.context.stages as object), ...guide.stages },
      stage: name,
    }
    const { config, warnings } = readHuddleConfig((key) => context[key])
    expect(warnings).toEqual([])
    const app = new App({
      context: {
        ...context,
        'aws:cdk:bundling-stacks': [],
        '@aws-cdk/core:failSynthOnValidationErrors': false,
      },
    })
    const stack = new HuddleStack(app, `Huddle-${name}`, { config })
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app))
    const assembly = app.synth()
    const report = JSON.parse(readFileSync(join(assembly.directory, 'validation-report.json'), 'utf8')) as {
      pluginReports: { violations: { ruleName: string; severity: string }[] }[]
    }
    const errors = report.pluginReports
      .flatMap((plugin) => plugin.violations)
      .filter((v) => v.severity === 'error')
    expect(errors.map((v) => v.ruleName)).toEqual([])
    const template = Template.fromStack(stack)
    template.resourceCountIs('AWS::Cognito::UserPool', 1)
    template.resourceCountIs('AWS::CloudFront::Distribution', 1)
    template.hasOutput('WebChatUrl', {})
  }, 120_000)
})
