/**
 * `GET /api/doctor`: the `pas doctor` rows for the running tree (models' keys and reachability,
 * executor binaries), so the HMI can mark unusable models in the tree before a job fails on
 * them. Checks take up to a few seconds, so an answer is reused for 15 s.
 */
import type { FastifyInstance } from 'fastify';
import type { DoctorRow } from '../doctor/doctor-checks.ts';

const REUSE_MS = 15_000;

export function registerDoctorRoute(app: FastifyInstance, check: () => Promise<DoctorRow[]>, now: () => number = Date.now): void {
  let last: { at: number; rows: Promise<DoctorRow[]> } | null = null;
  app.get('/api/doctor', async () => {
    if (!last || now() - last.at > REUSE_MS) {
      const rows = check();
      last = { at: now(), rows };
      rows.catch(() => {
        last = null;
      });
    }
    const rows = await last.rows;
    return { checked_at: new Date(last.at).toISOString(), ok: rows.every((r) => r.status !== 'fail'), rows };
  });
}
