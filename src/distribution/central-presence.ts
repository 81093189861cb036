/**
 * One central process per broker and `distribution.prefix`. Two `pas up` on one prefix (two data
 * dirs, or two machines) would each register the workers, race for their programmers and fence
 * each other's results: jobs hang. So a central process answers `pas.v1.central` on the prefix's
 * `central` subject for as long as it runs, and at its start asks that subject, listening for a
 * moment: an answer from another process refuses the start with PAS_ERR_DIST_CENTRAL_IN_USE,
 * naming that process. A process that died answers nothing (its subscription goes with its
 * connection, or lingers silent until the broker drops it), so a restart after kill -9 is never
 * refused. Two processes starting at the same moment hear each other: the one that started
 * listening first stays (ties: the smaller instance id), the other is refused.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Logger } from 'pino';
import { PasError, toErrorData } from '../errors.ts';
import type { DistLink } from './link.ts';
import { decodeMessage, encodeMessage, type CentralMessage } from './messages.ts';

/** How long a starting central process listens for another one's answer (at most request_timeout_ms). */
export const CENTRAL_LISTEN_MS = 300;

/** Whether `other` came first: it started listening earlier, or at the same ms with the smaller instance id. */
export function startedFirst(other: CentralMessage, me: CentralMessage): boolean {
  const a = Date.parse(other.since);
  const b = Date.parse(me.since);
  return a !== b ? a < b : other.instance < me.instance;
}

/**
 * Answers for this process from now on and checks no other central process runs on the prefix.
 * Resolves to the undo (stop answering); throws PAS_ERR_DIST_CENTRAL_IN_USE, answering nothing,
 * when one does.
 */
export async function claimCentral(link: DistLink, logger: Logger, listenMs = Math.min(CENTRAL_LISTEN_MS, link.settings.request_timeout_ms)): Promise<() => void> {
  const { nc } = link.nats;
  const subject = link.names.subjects.central;
  const me: CentralMessage = { kind: 'pas.v1.central', instance: randomBytes(8).toString('hex'), pid: process.pid, host: os.hostname(), since: new Date().toISOString() };
  const answer = encodeMessage('pas.v1.central', me);
  const others: CentralMessage[] = [];
  let listening = true;
  const hear = (data: Uint8Array) => {
    // Once the start is decided, a later process's announcement is only answered (it decides for itself).
    if (!listening) return;
    try {
      const m = decodeMessage('pas.v1.central', data);
      if (m.instance !== me.instance) others.push(m);
    } catch (err) {
      logger.warn({ err: toErrorData(err), subject }, 'bad central-process message refused');
    }
  };
  // Asked: this process answers; the asker's own announcement is heard too (two starting at once).
  const answering = nc.subscribe(subject, {
    callback: (err, msg) => {
      if (err) return;
      if (msg.reply) msg.respond(answer);
      hear(msg.data);
    },
  });
  try {
    // Every answer within the window (this process's own subscription answers too: never "no responders").
    for await (const reply of await nc.requestMany(subject, answer, { strategy: 'timer', maxWait: listenMs })) hear(reply.data);
  } finally {
    listening = false;
  }
  const first = others.find((o) => startedFirst(o, me));
  if (first) {
    answering.unsubscribe();
    throw new PasError(
      'PAS_ERR_DIST_CENTRAL_IN_USE',
      `another central process uses distribution prefix "${link.names.prefix}" on this broker (pid ${first.pid} on ${first.host}, since ${first.since}): stop it, or give this installation a distribution.prefix of its own`,
      { details: { prefix: link.names.prefix, pid: first.pid, host: first.host, since: first.since } },
    );
  }
  return () => answering.unsubscribe();
}
