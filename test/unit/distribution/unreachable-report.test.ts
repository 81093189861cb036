import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { reportUnreachable } from '../../../src/distribution/unreachable-report.ts';

describe('the list of unreachable remote programmers the pool hears', () => {
  it('is said at once, then again only when it changes, always whole and in order', () => {
    let reachable = new Set(['Prog-002']);
    const told: string[][] = [];
    const report = reportUnreachable(new Set(['Prog-003', 'Prog-001', 'Prog-002']), { reachable: () => reachable }, pino({ level: 'silent' }), (ids) => told.push(ids));
    expect(told).toEqual([['Prog-001', 'Prog-003']]);
    report.refresh();
    expect(told).toHaveLength(1);
    reachable = new Set(['Prog-001', 'Prog-002', 'Prog-003']);
    report.refresh();
    reachable = new Set(['Prog-001']);
    report.refresh();
    expect(told).toEqual([['Prog-001', 'Prog-003'], [], ['Prog-002', 'Prog-003']]);
  });
});
