/**
 * The characters Go's encoding/json escapes although JSON does not require it: `&`, `<`, `>` (HTML
 * escaping, json.Marshal's default) and U+2028/U+2029 (always). Each is tested ALONE in a string, so
 * that the writer's "nothing to escape" fast path must recognise it by itself: a string whose only
 * special character is `&` never reaches the slow path, and a fast path that forgot `&` would copy it
 * raw and change the digest of every document holding it.
 *
 * Expected bytes are Go's: json.Marshal("a&b") is `"a\u0026b"` (lowercase hex, 4 digits).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { marshalDescriptor, marshalManifest } from '../../../shared/cache/serialize';
import { goArray, goMap, goMarshal, goQuote, goRaw, goString, goStruct } from '../../../shared/json/go-json';

const sha256 = (text: string) => `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`;

/** Each special character, its Go escape, and whether SetEscapeHTML(false) leaves it raw. */
const SPECIAL: { char: string; name: string; escaped: string; html: boolean }[] = [
  { char: '&', name: 'ampersand', escaped: '\\u0026', html: true },
  { char: '<', name: 'less-than', escaped: '\\u003c', html: true },
  { char: '>', name: 'greater-than', escaped: '\\u003e', html: true },
  { char: '\u2028', name: 'U+2028 line separator', escaped: '\\u2028', html: false },
  { char: '\u2029', name: 'U+2029 paragraph separator', escaped: '\\u2029', html: false },
];

describe('Go escaping of & < > U+2028 U+2029, each alone', () => {
  for (const { char, name, escaped, html } of SPECIAL) {
    it(`${name}: the character alone, at the start, in the middle and at the end`, () => {
      assert.equal(goQuote(char), `"${escaped}"`);
      assert.equal(goQuote(`${char}tail`), `"${escaped}tail"`);
      assert.equal(goQuote(`head${char}tail`), `"head${escaped}tail"`);
      assert.equal(goQuote(`head${char}`), `"head${escaped}"`);
      assert.equal(goQuote(char.repeat(3)), `"${escaped.repeat(3)}"`);
    });

    it(`${name}: escaped in struct fields, map keys and values, arrays and raw values`, () => {
      const schema = goStruct([
        ['s', goString],
        ['m', goMap(goString)],
        ['a', goArray(goString)],
        ['r', goRaw],
      ]);
      const text = goMarshal({ s: `x${char}y`, m: { [`k${char}`]: `v${char}` }, a: [char], r: { [`q${char}`]: [`w${char}`] } }, schema);
      assert.equal(text, `{"s":"x${escaped}y","m":{"k${escaped}":"v${escaped}"},"a":["${escaped}"],"r":{"q${escaped}":["w${escaped}"]}}`);
    });

    it(`${name}: with escapeHTML false, ${html ? 'written raw (json.Encoder.SetEscapeHTML(false))' : 'still escaped (Go escapes it whatever SetEscapeHTML says)'}`, () => {
      assert.equal(goQuote(`a${char}b`, { escapeHTML: false }), html ? `"a${char}b"` : `"a${escaped}b"`);
    });
  }
});

describe('Go escaping in realistic strings', () => {
  it('a URL with a query string: only & is escaped, / and ? and = are not', () => {
    assert.equal(goQuote('https://example.com/v2/library/alpine/blobs?digest=sha256:abc&ns=docker.io'), '"https://example.com/v2/library/alpine/blobs?digest=sha256:abc\\u0026ns=docker.io"');
    assert.equal(goQuote('https://example.com/search?q=a&b=c&d=e'), '"https://example.com/search?q=a\\u0026b=c\\u0026d=e"');
  });

  it('shell commands: RUN a && b > c, redirections, heredocs, pipes', () => {
    assert.equal(goQuote('RUN a && b > c'), '"RUN a \\u0026\\u0026 b \\u003e c"');
    assert.equal(goQuote('/bin/sh -c apt-get update && apt-get install -y curl > /dev/null 2>&1'), '"/bin/sh -c apt-get update \\u0026\\u0026 apt-get install -y curl \\u003e /dev/null 2\\u003e\\u00261"');
    assert.equal(goQuote('RUN cat <<EOF > /etc/motd'), '"RUN cat \\u003c\\u003cEOF \\u003e /etc/motd"');
    assert.equal(goQuote('RUN make 2>&1 | tee log'), '"RUN make 2\\u003e\\u00261 | tee log"');
  });

  it('HTML-looking text, and a line separator inside a label (JSONP-safe output)', () => {
    assert.equal(goQuote('<b>bold</b>'), '"\\u003cb\\u003ebold\\u003c/b\\u003e"');
    assert.equal(goQuote('line one\u2028line two\u2029end'), '"line one\\u2028line two\\u2029end"');
  });

  it('a manifest whose annotations hold a URL and a command gets the bytes (and digest) Go gives it', () => {
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.buildkit.cacheconfig.v0', digest: `sha256:${'c'.repeat(64)}`, size: 10 },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          digest: `sha256:${'1'.repeat(64)}`,
          size: 42,
          annotations: { 'buildkit/description': 'RUN a && b > c', 'containerd.io/uncompressed': `sha256:${'2'.repeat(64)}` },
        },
      ],
      annotations: { 'org.opencontainers.image.source': 'https://example.com/repo?tab=files&ref=main' },
    };
    const expected =
      '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",' +
      `"config":{"mediaType":"application/vnd.buildkit.cacheconfig.v0","digest":"sha256:${'c'.repeat(64)}","size":10},` +
      `"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:${'1'.repeat(64)}","size":42,` +
      `"annotations":{"buildkit/description":"RUN a \\u0026\\u0026 b \\u003e c","containerd.io/uncompressed":"sha256:${'2'.repeat(64)}"}}],` +
      '"annotations":{"org.opencontainers.image.source":"https://example.com/repo?tab=files\\u0026ref=main"}}';
    const text = marshalManifest(manifest);
    assert.equal(text, expected);
    assert.equal(sha256(text), sha256(expected));
    // The raw form (what JSON.stringify writes) would be another document with another digest.
    assert.notEqual(sha256(text), sha256(JSON.stringify(manifest)));
  });

  it('a descriptor url with a lone & (no other character to escape) is escaped', () => {
    const d = { mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', digest: `sha256:${'f'.repeat(64)}`, size: 1, urls: ['https://mcr.example/l?a=1&b=2'] };
    assert.equal(marshalDescriptor(d), `{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","digest":"sha256:${'f'.repeat(64)}","size":1,"urls":["https://mcr.example/l?a=1\\u0026b=2"]}`);
  });
});
