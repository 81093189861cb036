// The spawner: a small plain-JavaScript node process (no tsx, no PAS modules) the runtime starts
// early, while its own memory is small, and asks over its IPC channel to start short-lived
// programs (git, verify commands). A fork of a large process blocks that process's event loop
// for as long as copying its page tables takes; a fork of this one costs the runtime nothing.
//
// Protocol (node IPC, 'advanced' serialization, so Buffers travel as bytes):
//   runtime → spawner  { t: 'run', id, file, args, cwd, envId, env?, detached, input?, held?, pwd?, maxBuffer }
//                      env comes with a new envId only; later requests name it by envId alone. Both
//                      sides keep the last ENVS_KEPT environments, dropping the oldest. `held`: its
//                      stdin stays open (a shell waiting for a line, spawn-child.ts heldCommand)
//                      until { t: 'go', id } writes that line and closes it. `pwd`: PWD names cwd
//                      in the child's environment (the kept environment is not changed).
//   spawner → runtime  { t: 'ready' } once, then per request:
//                      { t: 'taken', ids: [id…] }              written before the programs are started (one
//                                                              message for the requests of one read): without
//                                                              it, the runtime knows they never were
//                      { t: 'pid', id, pid }                   the program started
//                      { t: 'out', id, chunks: [[1|2, Buffer]…] }  output so far, in arrival order
//                      { t: 'done', id, code, signal, truncated, chunks, spawnError? }
// The child's environment is exactly the request's `env` (this process's own is not inherited).
// When the channel closes (the runtime exited, even on SIGKILL) this process kills the process
// groups it started (verify commands' trees) and exits: it never outlives the runtime.
import { spawn } from 'node:child_process';
import { collectOutput } from './output-cap.mjs';

/** Output is held back until this much has arrived (or the program ends): few messages for small outputs. */
const FLUSH_BYTES = 256 * 1024;

/** Environments kept (envId → env, oldest first): as many as the runtime keeps (spawner.ts ENVS_KEPT). */
const ENVS_KEPT = 8;
const envs = new Map();

/** The request's environment: sent with it (then kept), or one kept already. */
function envOf(request) {
  if (request.env !== undefined) {
    envs.set(request.envId, request.env);
    if (envs.size > ENVS_KEPT) envs.delete(envs.keys().next().value);
    return request.env;
  }
  return envs.get(request.envId);
}

/** id → the running child and whether it leads its own process group. */
const running = new Map();

function send(message) {
  if (process.connected) process.send(message);
}

function errorData(err) {
  return { code: err.code, errno: err.errno, syscall: err.syscall, path: err.path, message: err.message };
}

function run(request) {
  const { id, file, args, cwd, detached, input, held, maxBuffer } = request;
  const env = request.pwd && request.env !== undefined ? { ...request.env, PWD: cwd } : request.env;
  let child;
  if (env === undefined) {
    // Never a program with this process's own environment: the runtime names only environments it sent.
    send({ t: 'done', id, code: null, signal: null, truncated: false, chunks: [], spawnError: { message: `environment ${request.envId} is not known to the spawner` } });
    return;
  }
  try {
    child = spawn(file, args, { cwd, env, detached, stdio: [input === undefined && !held ? 'ignore' : 'pipe', 'pipe', 'pipe'], windowsHide: true });
  } catch (err) {
    send({ t: 'done', id, code: null, signal: null, truncated: false, chunks: [], spawnError: errorData(err) });
    return;
  }
  running.set(id, { child, detached });
  if (child.pid !== undefined) send({ t: 'pid', id, pid: child.pid });

  let chunks = [];
  let pending = 0;
  const output = collectOutput(child, maxBuffer, (stream, chunk) => {
    chunks.push([stream, chunk]);
    pending += chunk.length;
    if (pending >= FLUSH_BYTES) {
      send({ t: 'out', id, chunks });
      chunks = [];
      pending = 0;
    }
  });
  // A program that exits without reading its input (EPIPE) answers with its exit code.
  child.stdin?.on('error', () => undefined);
  if (input !== undefined) child.stdin?.end(input);

  let settled = false;
  const finish = (code, signal, spawnError) => {
    if (settled) return;
    settled = true;
    running.delete(id);
    const done = { t: 'done', id, code, signal, truncated: output.truncated, chunks };
    if (spawnError) done.spawnError = errorData(spawnError);
    send(done);
  };
  child.on('error', (err) => {
    // Before it started this is a failure to start; afterwards (a failed kill) 'close' still comes.
    if (child.pid === undefined) finish(null, null, err);
  });
  child.on('close', (code, signal) => finish(code, signal));
}

/** Requests read in this turn of the event loop (a burst arrives in one read): taken together. */
let arrived = [];

function takeArrived() {
  const requests = arrived;
  arrived = [];
  if (!process.connected) return;
  // Started only once 'taken' is written: a runtime that never read it may run them again.
  process.send({ t: 'taken', ids: requests.map((request) => request.id) }, (err) => {
    if (!err) for (const request of requests) run(request);
  });
}

process.on('message', (message) => {
  if (message?.t === 'go') {
    // The runtime sends it once the pid came, so the child is running (or done: nothing to do).
    running.get(message.id)?.child.stdin?.end('\n');
    return;
  }
  if (!message || message.t !== 'run' || !process.connected) return;
  if (arrived.length === 0) queueMicrotask(takeArrived);
  // Resolved as it arrives: the kept environments change in arrival order.
  message.env = envOf(message);
  arrived.push(message);
});

process.on('disconnect', () => {
  for (const { child, detached } of running.values()) {
    if (!detached || child.pid === undefined) continue;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  process.exit(0);
});

// Ctrl-C in a terminal signals the whole foreground group: the runtime decides when to stop, and
// this process goes when its channel closes.
process.on('SIGINT', () => undefined);

send({ t: 'ready' });
