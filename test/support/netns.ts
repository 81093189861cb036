/**
 * Network namespaces for partition tests (`ip netns`, root with CAP_NET_ADMIN): a namespace
 * joined to the host's namespace by a veth pair on its own /30, whose link can be taken down and
 * brought back up: a real partition (packets dropped, no RST), not a killed process. Names are
 * unique per run; everything made is removed by `remove()`, and at the latest when this process
 * exits (even after a failed test).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface Netns {
  /** The namespace's name (`ip netns exec NAME …`). */
  readonly name: string;
  /** The host side's address on the veth (reached from inside the namespace). */
  readonly hostAddress: string;
  /** The namespace side's address (reached from the host). */
  readonly nsAddress: string;
  /** Prefix for a command run inside the namespace. */
  readonly exec: string[];
  /** Takes the veth link down: nothing passes between the namespace and the host until `heal()`. */
  partition(): void;
  heal(): void;
  remove(): void;
}

function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Why `ip netns` cannot be used here (not root, no CAP_NET_ADMIN, no `ip`), or undefined when it can. */
export function netnsUnavailable(): string | undefined {
  const probe = `pasprobe${randomBytes(3).toString('hex')}`;
  try {
    ip(['netns', 'add', probe]);
  } catch (err) {
    return `ip netns add is not permitted here (${((err as { stderr?: string }).stderr ?? (err as Error).message).trim().split('\n')[0]})`;
  }
  try {
    ip(['netns', 'del', probe]);
  } catch (err) {
    return `ip netns del failed (${(err as Error).message})`;
  }
  return undefined;
}

const made = new Set<Netns>();
process.once('exit', () => {
  for (const ns of made) ns.remove();
});

/** A /30 in 10.200.0.0/13 that no interface of this host uses yet. */
function freeSubnet(): [string, string] {
  const used = ip(['-o', '-4', 'addr']);
  for (;;) {
    const b = 200 + (randomBytes(1)[0]! % 8);
    const c = randomBytes(1)[0]!;
    const d = (randomBytes(1)[0]! % 64) * 4;
    const prefix = `10.${b}.${c}.`;
    if (used.includes(`${prefix}${d + 1}/`) || used.includes(`${prefix}${d + 2}/`)) continue;
    return [`${prefix}${d + 1}`, `${prefix}${d + 2}`];
  }
}

/** A new namespace joined to this one by a veth pair (up, addressed, loopback up inside). */
export function createNetns(label: string): Netns {
  const tag = randomBytes(3).toString('hex');
  const name = `pas-${label}-${tag}`;
  const hostIf = `pv${tag}h`;
  const nsIf = `pv${tag}n`;
  const [hostAddress, nsAddress] = freeSubnet();
  let removed = false;
  const ns: Netns = {
    name,
    hostAddress,
    nsAddress,
    exec: ['ip', 'netns', 'exec', name],
    partition: () => void ip(['link', 'set', hostIf, 'down']),
    heal: () => void ip(['link', 'set', hostIf, 'up']),
    remove() {
      if (removed) return;
      removed = true;
      made.delete(ns);
      // Deleting one end of a veth deletes the pair; the namespace goes once its processes have.
      for (const args of [['link', 'del', hostIf], ['netns', 'del', name]]) {
        try {
          ip(args);
        } catch {
          // already gone
        }
      }
    },
  };
  made.add(ns);
  try {
    ip(['netns', 'add', name]);
    ip(['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf]);
    ip(['link', 'set', nsIf, 'netns', name]);
    ip(['addr', 'add', `${hostAddress}/30`, 'dev', hostIf]);
    ip(['link', 'set', hostIf, 'up']);
    ip(['netns', 'exec', name, 'ip', 'addr', 'add', `${nsAddress}/30`, 'dev', nsIf]);
    ip(['netns', 'exec', name, 'ip', 'link', 'set', nsIf, 'up']);
    ip(['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
  } catch (err) {
    ns.remove();
    throw err;
  }
  return ns;
}
