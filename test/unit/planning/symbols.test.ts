import { describe, expect, it } from 'vitest';
import { symbolsOf } from '../../../src/planning/symbols.ts';

describe('symbolsOf', () => {
  it('lists the top-level TypeScript definitions with their parameters, exported or not', () => {
    const s = symbolsOf(
      'src/cart.ts',
      [
        "import { price } from './prices.ts';",
        'export interface Cart { items: string[] }',
        'export type Id = string;',
        'export enum Kind { A, B }',
        'export function total(cart: Cart, taxRate = 0.2): number { return price(cart) * (1 + taxRate); }',
        'function helper() {}',
        'export const addItem = (cart: Cart, item: string) => cart.items.push(item);',
        'export class Checkout { pay() {} refund(id: Id) {} }',
      ].join('\n'),
    );
    expect(s.defs).toEqual(['Cart', 'Id', 'Kind', 'total', 'helper', 'addItem', 'Checkout']);
    expect(s.lines).toEqual([
      'export interface Cart',
      'export type Id',
      'export enum Kind',
      'export function total(cart, taxRate)',
      'function helper()',
      'export const addItem = (cart, item) =>',
      'export class Checkout { pay, refund }',
    ]);
    expect(s.refs.has('price')).toBe(true);
  });

  it('reads CommonJS exports in JavaScript files', () => {
    const s = symbolsOf('lib/a.js', 'function slugify(s) { return s; }\nmodule.exports.slugify = slugify;\nexports.VERSION = 1;');
    expect(s.defs).toEqual(['slugify', 'slugify', 'VERSION']);
  });

  it('finds Python, Go and Rust definitions by their top-level forms only', () => {
    expect(symbolsOf('a.py', 'class Parser:\n    def inner(self):\n        pass\n\nasync def fetch(url):\n    pass\n').defs).toEqual(['Parser', 'fetch']);
    expect(symbolsOf('a.go', 'package a\n\nfunc (s *Server) Start() error {\n}\n\ntype Server struct {}\nfunc main() {}\n').defs).toEqual(['Start', 'Server', 'main']);
    expect(symbolsOf('a.rs', 'pub fn parse(x: &str) -> u8 {}\nstruct Token;\n    fn nested() {}\n').defs).toEqual(['parse', 'Token']);
  });

  it('shows Markdown headings without treating them as definitions', () => {
    const s = symbolsOf('README.md', '# Title\n\ntext\n\n## Install\n');
    expect(s.lines).toEqual(['# Title', '## Install']);
    expect(s.defs).toEqual([]);
  });

  it('keeps only identifiers for files it cannot parse, and clips long lines', () => {
    expect(symbolsOf('data.csv', 'alpha,beta\n').defs).toEqual([]);
    const long = symbolsOf('x.ts', `export function f(${Array.from({ length: 40 }, (_, i) => `parameter${i}`).join(', ')}) {}`);
    expect(long.lines[0]!.length).toBe(100);
    expect(long.lines[0]!.endsWith('…')).toBe(true);
  });
});
