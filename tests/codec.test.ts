// The payload codec: what Temporal stores is ciphertext under a key id; it opens with that key only,
// old key ids keep opening after a rotation, and payloads from before the codec pass through.
import { randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, defaultPayloadConverter, type Payload } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { ENCRYPTED_ENCODING, EncryptionCodec, KEY_ID_METADATA } from '../workers/codec.js';

const key = () => randomBytes(32);
const text = (b: Uint8Array | null | undefined) => Buffer.from(b ?? []).toString('utf8');
const journeyInput = { journeyId: 'j-1', patientId: 'p-1', complaint: 'MARKER-chest-pain 胸痛', phone: '+86 138 0000 0000' };

describe('payload codec', () => {
  const k1 = key();
  const codec = new EncryptionCodec({ activeKeyId: 'k1', keys: [{ id: 'k1', key: k1 }] });

  it('round trip: seals the whole payload under the key id, and opens it to the same payload', async () => {
    const clear = defaultPayloadConverter.toPayload(journeyInput);
    const [sealed] = await codec.encode([clear]);
    expect(Object.keys(sealed!.metadata!).sort()).toEqual([KEY_ID_METADATA, METADATA_ENCODING_KEY].sort());
    expect(text(sealed!.metadata![METADATA_ENCODING_KEY])).toBe(ENCRYPTED_ENCODING);
    expect(text(sealed!.metadata![KEY_ID_METADATA])).toBe('k1');
    // Neither the data nor its original encoding is readable in what Temporal stores.
    const stored = Buffer.from(sealed!.data!);
    expect(stored.includes(Buffer.from('MARKER'))).toBe(false);
    expect(stored.includes(Buffer.from('json/plain'))).toBe(false);
    // A fresh IV each time: the same payload never seals to the same bytes.
    const [again] = await codec.encode([clear]);
    expect(Buffer.from(again!.data!).equals(stored)).toBe(false);

    const [opened] = await codec.decode([sealed!]);
    expect(text(opened!.metadata![METADATA_ENCODING_KEY])).toBe('json/plain');
    expect(defaultPayloadConverter.fromPayload(opened!)).toEqual(journeyInput);
    // Several payloads at once, in order; none at all is fine too.
    const many = [1, 'two', { three: 3 }].map((v) => defaultPayloadConverter.toPayload(v));
    expect((await codec.decode(await codec.encode(many))).map((p) => defaultPayloadConverter.fromPayload(p))).toEqual([1, 'two', { three: 3 }]);
    expect(await codec.encode([])).toEqual([]);
  });

  it('wrong key: a payload does not open with another key of the same id, nor with altered data', async () => {
    const [sealed] = await codec.encode([defaultPayloadConverter.toPayload(journeyInput)]);
    const impostor = new EncryptionCodec({ activeKeyId: 'k1', keys: [{ id: 'k1', key: key() }] });
    await expect(impostor.decode([sealed!])).rejects.toThrow(/key "k1" does not open with the configured key of that id \(wrong key, or the data was altered\)/);

    const altered = Buffer.from(sealed!.data!);
    altered[20] = altered[20]! ^ 1;
    await expect(codec.decode([{ ...sealed!, data: altered }])).rejects.toThrow(/wrong key, or the data was altered/);
    // An unknown key id, or none, is named as such.
    const stranger = new EncryptionCodec({ activeKeyId: 'k9', keys: [{ id: 'k9', key: key() }] });
    await expect(stranger.decode([sealed!])).rejects.toThrow(/no payload key "k1" is configured/);
    const { [KEY_ID_METADATA]: _id, ...noKeyId } = sealed!.metadata!;
    await expect(codec.decode([{ ...sealed!, metadata: noKeyId }])).rejects.toThrow(/without an encryption-key-id/);
    await expect(codec.decode([{ ...sealed!, data: Buffer.alloc(10) }])).rejects.toThrow(/too short/);
  });

  it('rotated key: the new key seals, payloads under the old key id still open', async () => {
    const k2 = key();
    const rotated = new EncryptionCodec({ activeKeyId: 'k2', keys: [{ id: 'k2', key: k2 }, { id: 'k1', key: k1 }] });
    const [old] = await codec.encode([defaultPayloadConverter.toPayload('sealed before the rotation')]);
    const [fresh] = await rotated.encode([defaultPayloadConverter.toPayload('sealed after')]);
    expect(text(fresh!.metadata![KEY_ID_METADATA])).toBe('k2');
    const opened = await rotated.decode([old!, fresh!]);
    expect(opened.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual(['sealed before the rotation', 'sealed after']);
    // The codec without the new key cannot open what the new key sealed.
    await expect(codec.decode([fresh!])).rejects.toThrow(/no payload key "k2"/);
  });

  it('a clear payload from before the codec passes through unchanged', async () => {
    const before: Payload = defaultPayloadConverter.toPayload(journeyInput);
    const binaryNull: Payload = defaultPayloadConverter.toPayload(undefined);
    const [a, b] = await codec.decode([before, binaryNull]);
    expect(a).toBe(before);
    expect(b).toBe(binaryNull);
    expect(defaultPayloadConverter.fromPayload(a!)).toEqual(journeyInput);
  });

  it('refuses keys that are not AES-256 keys, and an active key id it does not hold', () => {
    expect(() => new EncryptionCodec({ activeKeyId: 'k', keys: [{ id: 'k', key: randomBytes(16) }] })).toThrow(/must be 32 bytes/);
    expect(() => new EncryptionCodec({ activeKeyId: 'k2', keys: [{ id: 'k1', key: k1 }] })).toThrow(/active payload key "k2" is not among the keys/);
  });
});
