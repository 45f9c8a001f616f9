/**
 * The web chat's MLS worker (served at /mls-worker.js): ts-mls runs here, off the page's thread, so that
 * commits, Welcomes and decryption never hold up typing and scrolling. The page talks to it through
 * `workerMlsEngine(worker)` (web/app.ts); the group states stay in here, the page holds handles to them.
 */
import { serveMlsEngine } from '@huddle/client/mls-worker'

serveMlsEngine()
