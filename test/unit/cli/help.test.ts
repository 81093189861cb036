import { describe, expect, it, vi } from 'vitest';
import { COMMANDS, usage } from '../../../src/cli/commands.ts';
import { argumentError, commandHelp, suggestion, wantsHelp } from '../../../src/cli/help.ts';
import { main } from '../../../src/cli/main.ts';
import { jobBody, verifyArgv } from '../../../src/cli/submit.ts';

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => ((stdout += String(c)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => ((stderr += String(c)), true));
  try {
    return { code: await main(args), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

describe('pas --help', () => {
  it.each(Object.keys(COMMANDS))('pas %s --help prints its usage, every option with a description, and an example, and exits 0', async (name) => {
    const { code, stdout, stderr } = await run([name, '--help']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^Usage: pas ${name}`));
    for (const [option, spec] of Object.entries(COMMANDS[name]!.options)) {
      expect(stdout).toMatch(new RegExp(`--${option}\\b.*  ${spec.help.slice(0, 20).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    }
    expect(stdout).toMatch(/Examples?:\n {2}pas /);
    expect((await run([name, '-h'])).stdout).toBe(stdout);
    expect((await run(['help', name])).stdout).toBe(stdout);
  });

  it('lists every command with its options at the top level', async () => {
    const { code, stdout } = await run(['--help']);
    expect(code).toBe(0);
    for (const [name, c] of Object.entries(COMMANDS)) {
      expect(stdout).toContain(`pas ${name} `);
      for (const option of Object.keys(c.options)) expect(stdout).toContain(`--${option}`);
    }
    expect(usage()).toContain('PAS_CONFIG_DIR');
  });

  it('treats --help after -- as a positional, not a request for help', () => {
    expect(wantsHelp(['task', '--', '--help'])).toBe(false);
    expect(wantsHelp(['task', '--files', 'a', '-h'])).toBe(true);
  });
});

describe('did you mean', () => {
  it('answers a mistyped flag with the nearest real one and exit 2', async () => {
    const { code, stderr } = await run(['submit', 'task', '--wiat']);
    expect(code).toBe(2);
    expect(stderr).toBe('pas submit: unknown option --wiat. Did you mean --wait? (pas submit --help lists the options)\n');
    expect((await run(['status', '--limt', '3'])).stderr).toContain('Did you mean --limit?');
    expect((await run(['up', '--offlien'])).stderr).toContain('Did you mean --offline?');
  });

  it('does not guess for a flag that resembles nothing, and never prints Node boilerplate', async () => {
    const { code, stderr } = await run(['agents', '--zzzzzzzz']);
    expect(code).toBe(2);
    expect(stderr).toBe('pas agents: unknown option --zzzzzzzz. (pas agents --help lists the options)\n');
    expect(stderr).not.toContain('To specify a positional argument');
  });

  it('answers a mistyped command with the nearest command', async () => {
    const { code, stderr } = await run(['stauts']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^pas: unknown command "stauts". Did you mean "pas status"\?/);
    expect(suggestion('doctr', Object.keys(COMMANDS))).toBe('doctor');
    expect(suggestion('xyzzy', Object.keys(COMMANDS))).toBeNull();
  });

  it('explains a missing option value without the parseArgs wording', () => {
    const text = argumentError('submit', COMMANDS.submit!.options, Object.assign(new Error("Option '-l, --lane <value>' argument missing"), { code: 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' }));
    expect(text).toBe("pas submit: Option '-l, --lane <value>' argument missing (pas submit --help lists the options)\n");
  });

  it('renders boolean flags without a value and string options with their value name', () => {
    const help = commandHelp('cancel', COMMANDS.cancel!);
    expect(help).toMatch(/^ {2}-w, --wait {2,}wait until/m);
    expect(help).toMatch(/^ {6}--url URL {2,}/m);
  });
});

describe('pas submit --verify', () => {
  it('splits a command on spaces, or takes a JSON array for arguments with spaces', () => {
    expect(verifyArgv('npm test')).toEqual(['npm', 'test']);
    expect(verifyArgv('  node --test  a.js ')).toEqual(['node', '--test', 'a.js']);
    expect(verifyArgv('["node","--test","a b.js"]')).toEqual(['node', '--test', 'a b.js']);
  });

  it('refuses an empty command or a broken JSON array, naming --verify', () => {
    expect(() => verifyArgv('   ')).toThrow(/--verify got an empty command/);
    expect(() => verifyArgv('["node",')).toThrow(/--verify: .* not a JSON array/);
    expect(() => verifyArgv('[]')).toThrow(/non-empty JSON array/);
  });

  it('puts verify into the job body', () => {
    expect(jobBody({ verify: 'npm test' }, ['Fix it'])).toEqual({ task: 'Fix it', verify: ['npm', 'test'] });
  });
});
