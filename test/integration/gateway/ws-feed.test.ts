/**
 * The gateway's WebSocket feed (CONTRACT §5) with a real runtime behind it: a hello with the
 * whole tree, then one transition per state change of any agent or breaker, seq rising by one,
 * `?since=N` replays, and a client that stops reading is closed with 1013 without delaying others.
 */
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { TransitionRecord } from '../../../src/runtime/transition-record.ts';
import { inProcessServices } from '../../support/in-process-services.ts';
import { tempConfig } from '../../support/test-config.ts';
import type { TestTree } from '../../support/test-tree.ts';
import { DEFAULT_AGENTS, http, until, useCleanup, type FeedClient } from './gateway-helpers.ts';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function expectGapless(records: readonly { seq: number }[], first: number): void {
  expect(records.map((r) => r.seq)).toEqual(Array.from({ length: records.length }, (_, i) => first + i));
}

/** Every agent back to IDLE and the feed has caught up with everything the runtime reported. */
async function settled(tree: TestTree, clients: FeedClient[]): Promise<void> {
  await until(() => tree.runtime.tree().every((n) => n.state === 'IDLE' || n.state === 'closed'), 10_000, 'the tree to go idle');
  const seq = tree.gateway!.hub.stats().seq;
  await until(() => clients.every((c) => (c.messages.at(-1)?.seq ?? -1) >= seq), 10_000, `clients to reach seq ${seq}`);
}

async function runJob(tree: TestTree, body: Record<string, unknown>): Promise<string> {
  const answer = await http(`${tree.url}/api/jobs`, { body });
  expect(answer.status).toBe(202);
  await tree.runtime.waitForJob(answer.body.job_id, 20_000);
  return answer.body.job_id;
}

describe('the /ws feed on the gateway', () => {
  const cleanup = useCleanup();

  it('sends a hello with the whole tree, then every transition of a job run end to end in seq order with no gaps', async () => {
    const tree = await cleanup.tree({ services: inProcessServices({ taskMs: 15 }) });
    const fromRuntime: TransitionRecord[] = [];
    const off = tree.runtime.onTransition((r) => fromRuntime.push(r));
    cleanup.defer(off);
    const client = await cleanup.feed(tree.url);
    await until(() => client.messages.length >= 1, 5000, 'hello');

    const hello = client.hello();
    expect(hello).toMatchObject({ v: 1, type: 'hello', seq: tree.gateway!.hub.stats().seq });
    const nodes = Object.values(hello.tree);
    expect(Object.keys(hello.tree)).toEqual(nodes.map((n) => n.agentId));
    const agents = nodes.filter((n) => n.role !== 'breaker');
    expect(agents.map((n) => n.agentId)).toEqual(DEFAULT_AGENTS.map((a) => a.id));
    for (const node of agents) {
      const want = DEFAULT_AGENTS.find((a) => a.id === node.agentId)!;
      expect(node).toMatchObject({ role: want.role, state: 'IDLE', port: want.port + tree.portOffset });
      if (node.role === 'architect') expect(node.parent).toBeNull();
      else expect(hello.tree[node.parent!]).toBeDefined();
    }
    const breakers = nodes.filter((n) => n.role === 'breaker');
    expect(breakers.map((b) => b.agentId).sort()).toEqual(tree.runtime.topology.breakers.map((b) => b.agentId).sort());
    expect(breakers.every((b) => b.state === 'closed')).toBe(true);
    const prog6 = hello.tree['Prog-006']!;
    expect(prog6.breakers).toEqual(['breaker:anthropic/claude-sonnet-4', 'breaker:anthropic/claude-3-7-sonnet']);

    const jobId = await runJob(tree, { task: 'touch three files', lane: 'Code', files: ['a.ts', 'b.ts', 'c.ts'] });
    await settled(tree, [client]);

    const transitions = client.transitions();
    // The seq series also carries the job's merge-queue messages (CONTRACT §5: additive types).
    expect(client.messages.slice(1)).toEqual(client.records());
    expectGapless(client.records(), hello.seq + 1);
    // The feed is exactly what the runtime reported, in the same order (the hub owns seq).
    expect(transitions.map(({ seq: _s, v: _v, type: _t, ...rest }) => rest)).toEqual(fromRuntime.map(({ seq: _s, v: _v, type: _t, ...rest }) => rest));
    for (const t of transitions) {
      expect(Object.keys(t).sort()).toEqual(expect.arrayContaining(['agentId', 'event', 'from', 'role', 'seq', 'to', 'ts', 'type', 'v']));
      expect(t).toMatchObject({ v: 1, type: 'transition', ts: expect.stringMatching(ISO), event: expect.any(String) });
    }

    // Each agent's chain of states is continuous from IDLE and ends IDLE.
    const byAgent = new Map<string, TransitionRecord[]>();
    for (const t of transitions) byAgent.set(t.agentId, [...(byAgent.get(t.agentId) ?? []), t]);
    for (const [agentId, chain] of byAgent) {
      expect(chain[0]!.from, agentId).toBe('IDLE');
      for (let i = 1; i < chain.length; i++) expect(chain[i]!.from, agentId).toBe(chain[i - 1]!.to);
      expect(chain.at(-1)!.to, agentId).toBe('IDLE');
    }
    for (const agentId of ['Architect', 'Dir-Code', 'Mgr-Code-01']) {
      expect(byAgent.get(agentId)?.[0], agentId).toMatchObject({ to: 'EXECUTING', event: 'job.submitted', jobId });
    }
    const architect = byAgent.get('Architect')!;
    expect(architect.at(-1)).toMatchObject({ from: 'EXECUTING', to: 'IDLE', event: 'job.finished', jobId });

    // One programmer picked up each task and went back to IDLE with it.
    const tasks = tree.runtime.journal.tasksForJob(jobId);
    expect(tasks).toHaveLength(3);
    for (const task of tasks) {
      const chain = byAgent.get(task.programmerId!)!;
      const started = chain.findIndex((t) => t.taskId === task.id && t.to === 'EXECUTING');
      expect(chain[started], task.id).toMatchObject({ role: 'programmer', event: 'task.assigned', jobId });
      expect(chain.slice(started + 1).find((t) => t.taskId === task.id && t.from === 'EXECUTING'), task.id).toMatchObject({ to: 'IDLE', jobId });
    }
    // A transition is published before anyone later in the job acts on it.
    const seqOf = (agentId: string, to: string) => transitions.find((t) => t.agentId === agentId && t.to === to)!.seq;
    expect(seqOf('Architect', 'EXECUTING')).toBeLessThan(seqOf(tasks[0]!.programmerId!, 'EXECUTING'));

    // A client connecting now gets the latest seq and the idle tree, and nothing replayed.
    const late = await cleanup.feed(tree.url);
    await until(() => late.messages.length >= 1, 5000, 'late hello');
    await new Promise((r) => setTimeout(r, 50));
    expect(late.messages).toHaveLength(1);
    expect(late.hello()).toMatchObject({ seq: transitions.at(-1)!.seq });
    expect(late.hello()).not.toHaveProperty('gap');
    expect((await http(`${tree.url}/api/tree`)).body.seq).toBe(transitions.at(-1)!.seq);
  });

  it('a client reconnecting with ?since=N first gets exactly the records it missed, then the live ones, with no gap', async () => {
    const tree = await cleanup.tree({ services: inProcessServices({ taskMs: 5 }) });
    const steady = await cleanup.feed(tree.url);
    const dropped = await cleanup.feed(tree.url);
    await runJob(tree, { task: 'first', files: ['a.ts'] });
    await settled(tree, [steady, dropped]);
    const lastSeen = dropped.messages.at(-1)!.seq;
    expect(lastSeen).toBeGreaterThan(0);
    dropped.close();
    await dropped.closed;

    await runJob(tree, { task: 'while away', lane: 'Models', files: ['m.py', 'n.py'] });
    await settled(tree, [steady]);
    const now = tree.gateway!.hub.stats().seq;
    expect(now).toBeGreaterThan(lastSeen);

    const back = await cleanup.feed(tree.url, `?since=${lastSeen}`);
    await until(() => back.messages.length >= 1 + (now - lastSeen), 5000, 'the replay');
    expect(back.hello()).toMatchObject({ v: 1, type: 'hello', seq: now });
    expect(back.hello()).not.toHaveProperty('gap');
    const missed = steady.records().filter((t) => t.seq > lastSeen);
    expect(back.records()).toEqual(missed);
    expectGapless(back.records(), lastSeen + 1);

    await runJob(tree, { task: 'after coming back', files: ['z.ts'] });
    await settled(tree, [steady, back]);
    expect(back.records()).toEqual(steady.records().filter((t) => t.seq > lastSeen));
    expectGapless(back.records(), lastSeen + 1);

    // since=current replays nothing; a since from the future is answered as a gap.
    const current = await cleanup.feed(tree.url, `?since=${tree.gateway!.hub.stats().seq}`);
    const future = await cleanup.feed(tree.url, `?since=${tree.gateway!.hub.stats().seq + 1000}`);
    await until(() => current.messages.length >= 1 && future.messages.length >= 1, 5000, 'hellos');
    await new Promise((r) => setTimeout(r, 50));
    expect(current.messages).toHaveLength(1);
    expect(future.hello()).toMatchObject({ gap: true });
  });

  it('a since older than the ring gets a hello marked as a gap and what the ring still holds', async () => {
    const cfg = tempConfig();
    cleanup.defer(() => cfg.cleanup());
    cfg.edit('pas.yaml', (doc) => doc.setIn(['gateway', 'ws', 'ring_size'], 6));
    const tree = await cleanup.tree({ services: inProcessServices({ taskMs: 5 }), configDir: cfg.dir, agentPorts: false });
    const steady = await cleanup.feed(tree.url);
    await runJob(tree, { task: 'enough transitions to wrap the ring', files: ['a.ts', 'b.ts'] });
    await settled(tree, [steady]);
    const now = tree.gateway!.hub.stats().seq;
    expect(now).toBeGreaterThan(6);

    const back = await cleanup.feed(tree.url, '?since=1');
    await until(() => back.messages.length >= 7, 5000, 'hello and the ring');
    expect(back.hello()).toMatchObject({ seq: now, gap: true, oldestSeq: now - 5 });
    expect(back.records()).toEqual(steady.records().slice(-6));
  });

  it('a client that stops reading is closed with 1013 while a second client keeps receiving every record', async () => {
    const cfg = tempConfig();
    cleanup.defer(() => cfg.cleanup());
    cfg.edit('pas.yaml', (doc) => doc.setIn(['gateway', 'ws', 'max_buffered_bytes'], 64 * 1024));
    const tree = await cleanup.tree({ services: inProcessServices({ taskMs: 5 }), configDir: cfg.dir, agentPorts: false });
    const hub = tree.gateway!.hub;
    const fast = await cleanup.feed(tree.url);
    const slow = await cleanup.feed(tree.url);
    await until(() => fast.messages.length >= 1 && slow.messages.length >= 1, 5000, 'hellos');
    (slow.ws as unknown as { _socket: Socket })._socket.pause();

    // Big records fill the socket buffers of the client that does not read.
    const event = `task.progress.${'x'.repeat(16 * 1024)}`;
    const deadline = Date.now() + 20_000;
    while (hub.stats().droppedClients === 0) {
      if (Date.now() > deadline) throw new Error('the client that stopped reading was never dropped');
      const { seq } = hub.publish({ agentId: 'Prog-001', role: 'programmer', from: 'EXECUTING', to: 'EXECUTING', event });
      await until(() => (fast.messages.at(-1)?.seq ?? 0) >= seq, 5000, `the reading client to get seq ${seq}`);
    }
    expect(hub.stats()).toMatchObject({ clients: 1, droppedClients: 1 });

    // Reading again, it finds the close frame (1013) after what was already sent to it, within
    // the hub's close grace, and nothing past the drop.
    (slow.ws as unknown as { _socket: Socket })._socket.resume();
    await expect(slow.closed).resolves.toEqual({ code: 1013, reason: 'client too slow' });
    const slowSeen = slow.records();
    expectGapless(slowSeen, 1);
    expect(slowSeen.length).toBeLessThan(hub.stats().seq);

    // The feed goes on for the reader: a real job's transitions arrive with no gap.
    const jobId = await runJob(tree, { task: 'after the drop', files: ['a.ts'] });
    await settled(tree, [fast]);
    expectGapless(fast.records(), 1);
    expect(fast.transitions().some((t) => t.jobId === jobId && t.agentId === 'Architect')).toBe(true);
    expect(slow.messages.length).toBe(slowSeen.length + 1);
  });
});
