/** The private folder of an agent CLI's run(s) of one task: HOME, config dir, TMPDIR, its sessions. */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';

function safeName(id: string): string {
  return id.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 48);
}

/** A fresh folder name under the runs dir (`{dataDir}/agent-runs`). */
export function agentRunHome(runsDir: string, taskId: string): string {
  return path.join(runsDir, `${safeName(taskId)}-${randomBytes(4).toString('hex')}`);
}

export async function removeRunHome(home: string): Promise<void> {
  await rm(home, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
}
