// Patient data sealed in Temporal: a PayloadCodec that encrypts every payload (workflow and activity
// inputs and results, signals, updates, queries, memos) with AES-256-GCM before it leaves the process,
// so Temporal's history and UI hold ciphertext. The whole Payload (its metadata and data) is encrypted;
// what Temporal stores is `encoding: binary/encrypted`, the key id, and IV ‖ ciphertext ‖ GCM tag.
// Codecs run outside the workflow sandbox (client, worker, replay), so node:crypto is fine here.
// docs/architecture.md ("Payload encryption") says how keys rotate and what stays clear.
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { METADATA_ENCODING_KEY, ValueError, type Payload, type PayloadCodec } from '@temporalio/common';
// A CommonJS module: Node's ESM loader sees only its default export.
import proto from '@temporalio/proto';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const ProtoPayload = proto.temporal.api.common.v1.Payload;

/** The keys payloads are sealed with: the active one encrypts, every listed one decrypts. */
export interface PayloadKeys {
  activeKeyId: string;
  keys: readonly { id: string; key: Buffer }[];
}

const text = (b: Uint8Array | null | undefined): string | undefined => (b ? Buffer.from(b).toString('utf8') : undefined);

export class EncryptionCodec implements PayloadCodec {
  private readonly keys = new Map<string, KeyObject>();
  private readonly activeKeyId: string;
  private readonly sealedMetadata: Record<string, Uint8Array>;

  constructor({ activeKeyId, keys }: PayloadKeys) {
    for (const { id, key } of keys) {
      if (key.length !== 32) throw new ValueError(`payload key "${id}" must be 32 bytes (AES-256)`);
      this.keys.set(id, createSecretKey(key));
    }
    if (!this.keys.has(activeKeyId)) throw new ValueError(`the active payload key "${activeKeyId}" is not among the keys`);
    this.activeKeyId = activeKeyId;
    this.sealedMetadata = { [METADATA_ENCODING_KEY]: Buffer.from(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: Buffer.from(activeKeyId) };
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.seal(p));
  }

  /** A payload without the encryption encoding (written before the codec, or by another client) passes through as it is. */
  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => (text(p.metadata?.[METADATA_ENCODING_KEY]) === ENCRYPTED_ENCODING ? this.open(p) : p));
  }

  private seal(payload: Payload): Payload {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.activeKeyId)!, iv);
    const clear = ProtoPayload.encode(payload).finish();
    return { metadata: { ...this.sealedMetadata }, data: Buffer.concat([iv, cipher.update(clear), cipher.final(), cipher.getAuthTag()]) };
  }

  private open(payload: Payload): Payload {
    const keyId = text(payload.metadata?.[KEY_ID_METADATA]);
    if (!keyId) throw new ValueError('an encrypted payload without an encryption-key-id');
    const key = this.keys.get(keyId);
    if (!key) throw new ValueError(`no payload key "${keyId}" is configured (PAYLOAD_KEYS): keep a retired key listed while histories need it`);
    const data = payload.data ?? new Uint8Array();
    if (data.length < IV_BYTES + TAG_BYTES) throw new ValueError(`an encrypted payload (key "${keyId}") too short to hold an IV and tag`);
    const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    let clear: Buffer;
    try {
      clear = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new ValueError(`a payload sealed with key "${keyId}" does not open with the configured key of that id (wrong key, or the data was altered)`);
    }
    return ProtoPayload.decode(clear);
  }
}

/** The data converter every Client, Worker and replay of CarePath uses. */
export function payloadDataConverter(keys: PayloadKeys): { payloadCodecs: [EncryptionCodec] } {
  return { payloadCodecs: [new EncryptionCodec(keys)] };
}
