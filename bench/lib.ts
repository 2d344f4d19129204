/**
 * What the benchmark scripts share, in one import: servers (bench/servers.ts), load
 * (bench/load.ts), cell images and the image limit (bench/images.ts), the walkthrough's Flask
 * reference (bench/walkthrough.ts) and memory and CPU of a process tree (bench/proc.ts).
 */
export { mb, processTree, treeCpuMs, treeMemory } from './proc';
export {
  HOST,
  type Proc,
  ROOT,
  buildIfStale,
  freePort,
  get,
  sleep,
  startApp,
  startBenchServer,
  startFloor,
  startModelTier,
  startProcess,
  startScript,
} from './servers';
export { type Row, type Target, answerOf, multipart, requireWrk, responseBytes, warm, wrk } from './load';
export { bestImageLimit, findRealCell, imageLimit, syntheticCell } from './images';
export { PYTHON, fitFlaskModel, flaskOnPage, flaskPageTemplate, startFlask, statementOf } from './walkthrough';
