// `node --import <this file>`: appends every module the process resolves (ESM through a resolve
// hook, CommonJS through Module._load) to the file named by PAS_MODULE_LOG, one URL or request a
// line, so a test can tell which packages a command really loaded.
import { appendFileSync } from 'node:fs';
import Module, { register } from 'node:module';

const log = process.env.PAS_MODULE_LOG;
if (log) {
  register('./hooks.mjs', import.meta.url, { data: { log } });
  const load = Module._load;
  Module._load = function recordedLoad(request, parent, isMain) {
    appendFileSync(log, `cjs ${request}\n`);
    return load.call(this, request, parent, isMain);
  };
}
