/** Signals a whole process group (a verify command's or an agent CLI's tree). */

/** Sends a signal to every process of the group led by `pid`; false when none is left. */
export function signalProcessGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // ESRCH: nobody left. EPERM: the id now belongs to someone else's process; not ours to touch.
    if (code === 'ESRCH' || code === 'EPERM') return false;
    throw err;
  }
}
