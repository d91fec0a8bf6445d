// Every relative link in README.md and docs/*.md points to a file that exists,
// and every #anchor to a heading of the target (GitHub's heading ids).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { headingIds } from './markdown.js';
import { ROOT } from '../../e2e/cli-helpers.js';

const FILES = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** Markdown without fenced code blocks and inline code, where link syntax means nothing. */
function prose(markdown: string): string {
  return markdown
    .replace(/^( {0,3})(`{3,}|~{3,})[^\n]*\n[\s\S]*?\n\1\2[^\n]*$/gm, '')
    .replace(/(`+)[^`\n]*?\1/g, '');
}

/** Link targets: inline `[text](target "title")`, images, and reference definitions `[id]: target`. */
export function linkTargets(markdown: string): string[] {
  const text = prose(markdown);
  const inline = [...text.matchAll(/!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1] as string);
  const references = [...text.matchAll(/^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/gm)].map((m) => m[1] as string);
  return [...inline, ...references];
}

function isExternal(target: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//');
}

function brokenLinks(file: string): string[] {
  const source = join(ROOT, file);
  const markdown = readFileSync(source, 'utf8');
  const problems: string[] = [];
  for (const target of linkTargets(markdown)) {
    if (isExternal(target)) continue;
    const [rawPath = '', anchor] = target.split('#', 2) as [string, string | undefined];
    const path = decodeURIComponent(rawPath.split('?')[0] ?? '');
    const resolved = path === '' ? source : resolve(dirname(source), path);
    if (!resolved.startsWith(ROOT)) {
      problems.push(`${target}: points outside the repository`);
      continue;
    }
    if (!existsSync(resolved)) {
      problems.push(`${target}: ${relative(ROOT, resolved)} does not exist`);
      continue;
    }
    if (anchor !== undefined && resolved.endsWith('.md') && statSync(resolved).isFile()) {
      if (!headingIds(readFileSync(resolved, 'utf8')).has(anchor.toLowerCase())) problems.push(`${target}: no heading #${anchor} in ${relative(ROOT, resolved)}`);
    }
  }
  return problems;
}

describe('documentation links', () => {
  it('finds the documents', () => {
    expect(FILES).toEqual(expect.arrayContaining(['README.md', 'docs/architecture.md', 'docs/configuration.md', 'docs/operations.md']));
  });

  for (const file of FILES) {
    it(`every relative link in ${file} resolves`, () => {
      expect(brokenLinks(file)).toEqual([]);
    });
  }

  it('README links every document of docs/', () => {
    const linked = new Set(linkTargets(readFileSync(join(ROOT, 'README.md'), 'utf8')).map((t) => t.split('#')[0]));
    for (const doc of ['architecture.md', 'configuration.md', 'migrations.md', 'openapi.yaml', 'migrating.md', 'account-setup.md', 'plugins.md', 'operations.md', 'troubleshooting.md', 'testing.md']) {
      expect(linked.has(`docs/${doc}`), doc).toBe(true);
    }
  });
});

describe('the link checker itself', () => {
  it('reads inline, image and reference links, and ignores code', () => {
    const md = ['See [a](docs/a.md#x) and ![img](pic.png "t").', '', '[ref]: other.md', '', '```', '[no](code.md)', '```', 'and `[no](inline.md)`'].join('\n');
    expect(linkTargets(md)).toEqual(['docs/a.md#x', 'pic.png', 'other.md']);
  });

  it("computes GitHub's heading ids", () => {
    const ids = headingIds(['# Let\'s Encrypt account setup', '## The `DnsProvider` — `src/dns/provider.ts`', '## 1. The `.env` works as is', '## Repeat', '## Repeat'].join('\n'));
    expect([...ids]).toEqual(['lets-encrypt-account-setup', 'the-dnsprovider--srcdnsproviderts', '1-the-env-works-as-is', 'repeat', 'repeat-1']);
  });
});
