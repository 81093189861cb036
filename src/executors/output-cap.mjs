// Collects a child's stdout (1) and stderr (2) as they arrive, each stream capped at `maxBuffer`
// bytes: past it the child is killed (SIGKILL) and nothing more is kept. Plain JavaScript, so the
// spawner (spawner-process.mjs, run by node without tsx) and spawn-child.ts share it.

/**
 * @param {import('node:child_process').ChildProcess} child
 * @param {number} maxBuffer
 * @param {(stream: 1 | 2, chunk: Buffer) => void} onChunk
 * @returns {{ truncated: boolean }}
 */
export function collectOutput(child, maxBuffer, onChunk) {
  const state = { truncated: false };
  const sizes = [0, 0, 0];
  const collect = (stream) => (chunk) => {
    if (state.truncated) return;
    sizes[stream] += chunk.length;
    if (sizes[stream] > maxBuffer) {
      state.truncated = true;
      child.kill('SIGKILL');
      return;
    }
    onChunk(stream, chunk);
  };
  child.stdout?.on('data', collect(1));
  child.stderr?.on('data', collect(2));
  return state;
}
