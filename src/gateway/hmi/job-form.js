/**
 * The job form: task, lane, files, repository, verify command and executor → POST /api/jobs. Bad input is
 * refused by the gateway with the field it names; the form shows that message next to it and
 * keeps what the user typed.
 */
import { h } from './dom.js';

const LANES = ['Code', 'Models', 'Data', 'DevSecOps', 'Docs'];
/** CONTRACT §8's executors (machines/domain.ts EXECUTOR_KINDS; a unit test keeps the two equal). */
export const EXECUTORS = ['native', 'aider', 'claude-code', 'codex', 'gemini-cli', 'opencode'];

/** "a.js b.js, c d.js" → ["a.js", "b.js", "c", "d.js"]: files are split on spaces, commas and new lines. */
export function splitList(text) {
  return String(text ?? '').split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
}

/**
 * @param {HTMLElement} root
 * @param {{ api: (path: string, init?: RequestInit) => Promise<{ok: boolean, status: number, body: any}>, onSubmitted: (jobId: string) => void }} deps
 */
export function mountJobForm(root, { api, onSubmitted }) {
  const task = h('textarea', { id: 'job-task', name: 'task', rows: '2', required: true, placeholder: 'What should the swarm do? e.g. Add input validation' });
  const lane = h('select', { id: 'job-lane', name: 'lane' }, h('option', { value: '' }, 'Architect decides'), LANES.map((l) => h('option', { value: l }, l)));
  const files = h('input', { id: 'job-files', name: 'files', type: 'text', placeholder: 'src/a.js src/b.js', autocomplete: 'off' });
  const repo = h('input', { id: 'job-repo', name: 'repo', type: 'text', placeholder: '/path/to/your/repo (empty: a scratch repo)', autocomplete: 'off' });
  const verify = h('input', { id: 'job-verify', name: 'verify', type: 'text', placeholder: 'npm test (optional)', autocomplete: 'off' });
  const executor = h('select', { id: 'job-executor', name: 'executor' }, h('option', { value: '' }, "Each programmer's own"), EXECUTORS.map((e) => h('option', { value: e }, e)));
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Submit job');
  const message = h('output', { class: 'form-msg', id: 'job-form-msg', 'aria-live': 'polite' });
  const field = (label, input, hint) => h('div', { class: 'jf-field' }, h('label', { for: input.id, text: label }), input, hint ? h('span', { class: 'jf-hint', text: hint }) : null);
  const form = h(
    'form',
    { class: 'job-form', id: 'job-form', 'aria-label': 'Submit a job' },
    field('Task', task),
    h('div', { class: 'jf-grid' }, field('Lane', lane), field('Files', files, 'space separated, relative to the repo'), field('Repository', repo), field('Verify', verify, 'must match cmd_allowlist.yaml'), field('Executor', executor, 'runs every subtask')),
    h('div', { class: 'form-actions' }, message, submit),
  );
  const say = (text, kind) => {
    message.textContent = text;
    message.dataset.kind = kind;
    message.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  };
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { task: task.value.trim() };
    if (lane.value) body.lane = lane.value;
    const fileList = splitList(files.value);
    if (fileList.length > 0) body.files = fileList;
    if (repo.value.trim()) body.repo = repo.value.trim();
    const verifyArgv = splitList(verify.value.replace(/,/g, ' '));
    if (verifyArgv.length > 0) body.verify = verifyArgv;
    if (executor.value) body.executor = executor.value;
    if (!body.task) {
      say('The task is required.', 'error');
      task.focus();
      return;
    }
    submit.disabled = true;
    form.setAttribute('aria-busy', 'true');
    say('Submitting…', 'info');
    const result = await api('/api/jobs', { method: 'POST', body: JSON.stringify(body) });
    submit.disabled = false;
    form.removeAttribute('aria-busy');
    if (!result.ok) {
      const err = result.body?.error;
      const where = err?.details?.field ?? err?.details?.issues?.[0]?.path;
      say(`Not submitted: ${err?.message ?? `HTTP ${result.status}`}${where && !String(err?.message ?? '').includes(where) ? ` (${where})` : ''}`, 'error');
      return;
    }
    say(`Submitted job ${result.body.job_id}.`, 'ok');
    task.value = '';
    onSubmitted(result.body.job_id);
  });
  root.replaceChildren(form);
  return form;
}
