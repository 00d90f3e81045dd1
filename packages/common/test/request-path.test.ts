import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isHostHeader, parseRequestPath, percentEncodePath } from '../src/index.js';

test('request paths: absolute printable ASCII; the fix is the percent-encoded path', () => {
  assert.deepEqual(parseRequestPath('/VirtualHostBase/https/www.example.org:443/Plone/VirtualHostRoot/'), { ok: true, value: '/VirtualHostBase/https/www.example.org:443/Plone/VirtualHostRoot/' });
  assert.deepEqual(parseRequestPath('/Plone/\u20ac'), { ok: false, message: '"/Plone/\u20ac" contains "\u20ac", which a request path cannot carry unencoded (printable ASCII only)', hint: 'percent-encode it: "/Plone/%E2%82%AC"' });
  assert.equal(parseRequestPath('Plone').ok, false);
  assert.equal(percentEncodePath('/x%20y/caf\u00e9 z'), '/x%20y/caf%C3%A9%20z');
  assert.equal(percentEncodePath('/\ud800'), '/%EF%BF%BD');
});

test('property: the percent-encoded form of any absolute path is accepted, and decodes back', () => {
  fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 20 }), (s) => {
    const p = `/${s.replace(/%/g, '')}`;
    const e = percentEncodePath(p);
    assert.ok(parseRequestPath(e).ok, e);
    assert.equal(decodeURI(e), p);
  }));
});

test('Host: header values', () => {
  for (const h of ['www.example.org', 'www.example.org:8080', '[::1]:8080', '10.0.0.1']) assert.ok(isHostHeader(h), h);
  for (const h of ['a b', 'x/y', '', 'a:b:c']) assert.ok(!isHostHeader(h), h);
});
