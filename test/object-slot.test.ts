import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { requestSlot, socketSlot } from '../dist/taps/object-slot.js';

interface Named { readonly owner: object; readonly name: string }

describe('records on objects poolscope does not own', () => {
  it('a request is claimed once: a second claim by the same owner is refused and changes nothing', () => {
    const owner = {};
    const slot = requestSlot<Named>(owner);
    const request = { origin: 'http://127.0.0.1:1' };
    const first = { owner, name: 'first' };
    assert.equal(slot.has(request), false);
    assert.equal(slot.get(request), undefined);
    assert.equal(slot.claim(request, first), true);
    assert.equal(slot.claim(request, { owner, name: 'second' }), false);
    assert.equal(slot.get(request), first);
    assert.deepEqual(Object.keys(request), ['origin'], 'no key the app lists');
    assert.equal(JSON.stringify(request), '{"origin":"http://127.0.0.1:1"}');
    assert.deepEqual(Object.getOwnPropertySymbols(request).map(String), ['Symbol(poolscope.request)'], 'one symbol, shown to reflection');
  });

  it('each owner sees only its own records: a later owner takes the object over', () => {
    const [ownerBefore, ownerAfter] = [{}, {}];
    const before = requestSlot<Named>(ownerBefore);
    const after = requestSlot<Named>(ownerAfter);
    const request = {};
    before.claim(request, { owner: ownerBefore, name: 'old' });
    assert.equal(after.get(request), undefined);
    assert.equal(after.has(request), false);
    const taken = { owner: ownerAfter, name: 'new' };
    assert.equal(after.claim(request, taken), true);
    assert.equal(after.get(request), taken);
    assert.equal(before.get(request), undefined);
  });

  it('sockets and requests keep separate records', () => {
    const owner = {};
    const requests = requestSlot<Named>(owner);
    const sockets = socketSlot<Named>(owner);
    const target = {};
    const socket = { owner, name: 'socket' };
    assert.equal(sockets.replace(target, socket), undefined);
    assert.equal(requests.get(target), undefined);
    const request = { owner, name: 'request' };
    assert.equal(requests.claim(target, request), true);
    assert.equal(sockets.get(target), socket);
    assert.equal(requests.get(target), request);
  });

  it('a later owner of a socket replaces the record and reads the one it replaced', () => {
    const [ownerBefore, ownerAfter] = [{}, {}];
    const before = socketSlot<Named>(ownerBefore);
    const after = socketSlot<Named>(ownerAfter);
    const socket = {};
    const old = { owner: ownerBefore, name: 'old' };
    assert.equal(before.replace(socket, old), undefined);
    assert.equal(after.get(socket), undefined);
    const taken = { owner: ownerAfter, name: 'new' };
    assert.equal(after.replace(socket, taken), old);
    assert.equal(after.get(socket), taken);
    assert.equal(before.get(socket), undefined);
    const fresh = {};
    assert.equal(after.replace(fresh, taken), undefined, 'nothing to replace');
    assert.equal(after.get(fresh), taken);
    assert.deepEqual(Object.keys(socket), [], 'nothing the app can see');
  });
});
