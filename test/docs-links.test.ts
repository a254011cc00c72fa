/**
 * The docs' links hold (issue #12 split the README into docs/ pages, and a section moved without
 * its links is easy to miss): in README.md and every docs/*.md, every relative link names a file
 * that exists, and every `#anchor` names a heading of its target, by GitHub's slug rules, or an
 * explicit `<a id>` (docs/design.md's I1–I9). No network: links with a scheme are not followed.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.join(__dirname, '..', '..');

/** README.md and every docs/*.md, relative to the repository root. */
function pages(): string[] {
  const docs = fs
    .readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort();
  return ['README.md', ...docs.map((f) => `docs/${f}`)];
}

/** The page without its fenced code blocks, whose `#` lines are comments and whose brackets are code. */
function outsideFences(markdown: string): string[] {
  const lines: string[] = [];
  let fence: string | undefined;
  for (const line of markdown.split('\n')) {
    const open = /^ {0,3}(`{3,}|~{3,})/.exec(line);
    if (fence === undefined && open) fence = open[1];
    else if (fence !== undefined && open && open[1][0] === fence[0] && open[1].length >= fence.length) fence = undefined;
    else if (fence === undefined) lines.push(line);
  }
  return lines;
}

/** GitHub's anchor for a heading: its text lowercased, punctuation but `-` and `_` dropped, each space a `-`. */
function slug(heading: string): string {
  const text = heading.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/<[^>]*>/g, '');
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor a page offers: its headings' slugs (a repeated one gets `-1`, `-2`, ...) and its `<a id|name>`s. */
function anchors(markdown: string): Set<string> {
  const found = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of outsideFences(markdown)) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line);
    if (heading) {
      const base = slug(heading[1]);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      found.add(n === 0 ? base : `${base}-${n}`);
    }
    for (const a of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) found.add(a[1]);
  }
  return found;
}

/** The targets of a page's inline links and images, outside code. */
function links(markdown: string): string[] {
  const prose = outsideFences(markdown)
    .join('\n')
    .replace(/``[\s\S]*?``|`[^`\n]*`/g, 'code');
  return [...prose.matchAll(/\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]);
}

/** What is wrong with each relative link of `page`, as "page: target: why". */
function brokenLinks(page: string): string[] {
  const broken: string[] = [];
  const text = fs.readFileSync(path.join(ROOT, page), 'utf8');
  for (const target of links(text)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
    const [file, fragment] = target.split('#', 2);
    const resolved = file === '' ? path.join(ROOT, page) : path.join(ROOT, path.dirname(page), decodeURIComponent(file));
    if (!fs.existsSync(resolved)) {
      broken.push(`${page}: ${target}: no file ${path.relative(ROOT, resolved)}`);
      continue;
    }
    if (fragment === undefined || !resolved.endsWith('.md')) continue;
    if (!anchors(fs.readFileSync(resolved, 'utf8')).has(decodeURIComponent(fragment))) {
      broken.push(`${page}: ${target}: no heading or anchor #${fragment} in ${path.relative(ROOT, resolved)}`);
    }
  }
  return broken;
}

describe('docs links', () => {
  it("makes GitHub's anchors from headings", () => {
    expect(slug('Manual failover: `rpmem promote`')).to.equal('manual-failover-rpmem-promote');
    expect(slug('Pool.create(path, options)')).to.equal('poolcreatepath-options');
    expect(slug('Round 2 (issue 11): goals against the grpc-js ceiling')).to.equal('round-2-issue-11-goals-against-the-grpc-js-ceiling');
    expect(slug('`exec` and max_range — [the agent](cli.md)')).to.equal('exec-and-max_range--the-agent');
    expect([...anchors('# A\n## A\n```sh\n# not a heading\n```\n<a id="i1"></a>\n')]).to.deep.equal(['a', 'a-1', 'i1']);
  });

  for (const page of pages()) {
    it(`${page}: every relative link and anchor resolves`, () => {
      expect(brokenLinks(page)).to.deep.equal([]);
    });
  }

  it('README.md links every docs/ page', () => {
    const linked = new Set(links(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')).map((t) => t.split('#')[0]));
    expect(
      pages()
        .slice(1)
        .filter((p) => !linked.has(p)),
    ).to.deep.equal([]);
  });
});

/** The name the invariants went by before docs/design.md (spelled in two, so this file does not cite it). */
const OLD_NAME = ['DESIGN', 'NOTES'].join('-');

/** The folders whose files may cite an invariant: every file under them but src/generated/. */
const CITING = ['src', 'test', 'bench', 'native', 'deploy', 'examples', 'proto'];

/** Each citation `docs/design.md I<n>`, as "file: I<n>", and the files that still use OLD_NAME. */
function citations(): { cited: string[]; stale: string[] } {
  const cited: string[] = [];
  const stale: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (rel !== path.join('src', 'generated')) walk(rel);
        continue;
      }
      const text = fs.readFileSync(path.join(ROOT, rel), 'utf8');
      for (const m of text.matchAll(/docs\/design\.md\s+((?:I\d+(?:\s*[-–,]\s*|\s+and\s+)?)+)/g)) {
        for (const n of m[1].matchAll(/I(\d+)/g)) cited.push(`${rel}: I${n[1]}`);
      }
      if (text.includes(OLD_NAME)) stale.push(rel);
    }
  };
  for (const dir of CITING) walk(dir);
  return { cited, stale };
}

describe('invariant citations', () => {
  it('every "docs/design.md In" in the code names an anchor of docs/design.md, and no file cites the old name', () => {
    const offered = anchors(fs.readFileSync(path.join(ROOT, 'docs', 'design.md'), 'utf8'));
    const { cited, stale } = citations();
    expect(cited.length, 'citations found').to.be.greaterThan(30);
    expect(cited.filter((c) => !offered.has(c.slice(c.lastIndexOf(' ') + 1).toLowerCase()))).to.deep.equal([]);
    expect(stale).to.deep.equal([]);
  });
});
