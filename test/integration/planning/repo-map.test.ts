import { afterEach, describe, expect, it } from 'vitest';
import { buildRepoMap, neighbours } from '../../../src/planning/repo-map.ts';
import { createTempRepo, gitOut, writeFiles, type TempRepo } from '../../support/git-fixtures.ts';

let temp: TempRepo | undefined;
afterEach(async () => {
  await temp?.cleanup();
  temp = undefined;
});

const SHOP = {
  'src/prices.ts': 'export function price(sku: string): number { return sku.length; }\nexport const CURRENCY = "EUR";\n',
  'src/cart.ts': "import { price, CURRENCY } from './prices.ts';\nexport function total(skus: string[]) { return skus.map(price).reduce((a, b) => a + b, 0) + CURRENCY; }\n",
  'src/checkout.ts': "import { total } from './cart.ts';\nimport { price } from './prices.ts';\nexport function pay(skus: string[]) { return total(skus) + price('fee'); }\n",
  'src/unrelated.py': 'def banner():\n    return "hi"\n',
  'README.md': '# Shop\n\n## Usage\n',
  'logo.png': Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 1, 2, 3]),
};

describe('buildRepoMap', () => {
  it('lists every file of the commit with its definitions, the most referenced first', async () => {
    temp = await createTempRepo(SHOP);
    const map = await buildRepoMap(temp.repo, temp.base);
    expect([...map.files].sort()).toEqual(['README.md', 'logo.png', 'src/cart.ts', 'src/checkout.ts', 'src/prices.ts', 'src/unrelated.py']);
    // prices.ts is used by cart and checkout, cart by checkout: that is the order of importance.
    expect(map.ranked.slice(0, 2)).toEqual(['src/prices.ts', 'src/cart.ts']);
    expect(map.text).toContain(`Repository map at ${temp.base.slice(0, 12)} (6 files; most relevant first):`);
    expect(map.text).toContain('src/prices.ts:\n  export function price(sku)\n  export const CURRENCY');
    expect(map.text).toContain('src/unrelated.py:\n  def banner()');
    expect(map.text).toContain('README.md:\n  # Shop\n  ## Usage');
    expect(map.text).toMatch(/\nlogo\.png(\n|$)/);
  });

  it('maps a sha256 repository at its 64-digit commit id as it maps a sha1 one', async () => {
    temp = await createTempRepo(SHOP, { objectFormat: 'sha256' });
    expect(temp.base).toMatch(/^[0-9a-f]{64}$/);
    const map = await buildRepoMap(temp.repo, temp.base);
    expect(map.ranked.slice(0, 2)).toEqual(['src/prices.ts', 'src/cart.ts']);
    expect(map.text).toContain(`Repository map at ${temp.base.slice(0, 12)} (6 files; most relevant first):`);
    expect((await buildRepoMap(temp.repo, 'main')).text).toBe(map.text);
  });

  it('ranks the files and names a job mentions above the rest', async () => {
    temp = await createTempRepo(SHOP);
    const map = await buildRepoMap(temp.repo, temp.base, { task: 'Make banner() print the shop name' });
    expect(map.ranked[0]).toBe('src/unrelated.py');
    const focused = await buildRepoMap(temp.repo, temp.base, { focusFiles: ['README.md'], task: 'change src/checkout.ts' });
    expect(focused.ranked.slice(0, 2)).toEqual(['README.md', 'src/checkout.ts']);
  });

  it('reads the given commit, not the working tree or a later commit', async () => {
    temp = await createTempRepo(SHOP);
    await writeFiles(temp.repo, { 'src/late.ts': 'export function late() {}\n', 'src/prices.ts': 'export function renamed() {}\n' });
    const map = await buildRepoMap(temp.repo, temp.base);
    expect(map.files).not.toContain('src/late.ts');
    expect(map.text).toContain('export function price(sku)');
    expect(map.text).not.toContain('renamed');
    await gitOut(temp.repo, 'add', '--all');
    await gitOut(temp.repo, 'commit', '-qm', 'later');
    const later = await buildRepoMap(temp.repo, await gitOut(temp.repo, 'rev-parse', 'HEAD'));
    expect(later.files).toContain('src/late.ts');
    expect(later.text).toContain('export function renamed()');
  });

  it('cuts the map to its token budget and says how many files it left out', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 300; i++) files[`pkg/module${String(i).padStart(3, '0')}.ts`] = `export function handler${i}(request, response) {}\nexport const LIMIT_${i} = ${i};\n`;
    temp = await createTempRepo(files);
    const map = await buildRepoMap(temp.repo, temp.base, { tokenBudget: 256 });
    expect(map.text.length).toBeLessThanOrEqual(256 * 4 + 40);
    expect(map.text).toMatch(/… and \d+ more files$/);
    const shown = map.text.split('\n').filter((l) => l.startsWith('pkg/')).length;
    expect(shown).toBeGreaterThan(5);
    expect(shown).toBeLessThan(300);
  });

  it('leaves symlinks and submodules out of the files a plan may use', async () => {
    temp = await createTempRepo({ 'a.ts': 'export const a = 1;\n' });
    await gitOut(temp.repo, 'update-index', '--add', '--cacheinfo', `160000,${temp.base},vendor/lib`);
    const { execa } = await import('execa');
    await execa('ln', ['-s', 'a.ts', 'link.ts'], { cwd: temp.repo });
    await gitOut(temp.repo, 'add', 'link.ts');
    await gitOut(temp.repo, 'commit', '-qm', 'links');
    const map = await buildRepoMap(temp.repo, await gitOut(temp.repo, 'rev-parse', 'HEAD'));
    expect(map.files).toEqual(['a.ts']);
  });

  it('refuses a commit that does not exist with a coded git error', async () => {
    temp = await createTempRepo(SHOP);
    await expect(buildRepoMap(temp.repo, 'f'.repeat(40))).rejects.toMatchObject({ code: 'PAS_ERR_GIT' });
  });
});

describe('neighbours', () => {
  it('names the files a subtask uses and the files that use it, strongest tie first', async () => {
    temp = await createTempRepo(SHOP);
    const map = await buildRepoMap(temp.repo, temp.base);
    expect(neighbours(map, ['src/cart.ts'])).toEqual(['src/prices.ts', 'src/checkout.ts']);
    expect(neighbours(map, ['src/unrelated.py'])).toEqual([]);
    // checkout.ts uses one name of each: equal ties go by path.
    expect(neighbours(map, ['src/checkout.ts'], 1)).toEqual(['src/cart.ts']);
  });
});
