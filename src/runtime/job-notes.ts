/**
 * Notes on a job that its status alone does not tell: it ran on the offline model, its plan fell
 * back to one subtask per file because planning failed (and why). Kept in the journal beside the
 * job (snapshot `notes:<jobId>`), shown by `GET /api/jobs/{id}`, `pas status`, `pas submit --wait`
 * and the HMI.
 */
import type { Journal } from '../journal/journal.ts';

const key = (jobId: string) => `notes:${jobId}`;

export function jobNotes(journal: Pick<Journal, 'loadSnapshot'>, jobId: string): string[] {
  const notes = journal.loadSnapshot<unknown>(key(jobId));
  return Array.isArray(notes) ? notes.filter((n): n is string => typeof n === 'string') : [];
}

/** Adds a note once (a re-planned job after a restart does not repeat it). */
export function addJobNote(journal: Pick<Journal, 'loadSnapshot' | 'saveSnapshot'>, jobId: string, note: string): void {
  const notes = jobNotes(journal, jobId);
  if (notes.includes(note)) return;
  journal.saveSnapshot(key(jobId), [...notes, note]);
}

export const OFFLINE_JOB_NOTE =
  'offline: no model was called; the cassette answers the calls it knows and every other edit is a synthetic note appended to each file (README, "Offline")';

export function fallbackPlanNote(error: { code: string; message: string }): string {
  return `planning failed: ${error.code}: ${error.message}; one subtask per file`;
}
