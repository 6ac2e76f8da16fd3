import { describe, expect, it } from 'vitest';
import {
  addPrgWords,
  aesCtr,
  aesGcmDecrypt,
  aesGcmEncrypt,
  hkdfSha256,
  prgStream,
  prgWords,
  SecAggCryptoError,
  x25519,
  x25519PublicKey,
} from '../shared/secagg/crypto.js';

// Published vectors only: each proves we call Node's primitive the way its standard means, not merely consistently.
const hex = (text: string) => new Uint8Array(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
const toHex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

describe('X25519 (RFC 7748)', () => {
  it('§5.2: scalar multiplication of a given u-coordinate', () => {
    // The RFC's first test vector. Its scalar's top bit is set: X25519 clamps it, so any 32 bytes are a private key.
    const scalar = hex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4');
    const u = hex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c');
    expect(toHex(x25519(scalar, u))).toBe('c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552');
  });

  it('§6.1: Alice and Bob derive their public keys and the same shared secret', () => {
    const alicePrivate = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
    const bobPrivate = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
    const alicePublic = x25519PublicKey(alicePrivate);
    const bobPublic = x25519PublicKey(bobPrivate);
    expect(toHex(alicePublic)).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    expect(toHex(bobPublic)).toBe('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
    expect(toHex(x25519(alicePrivate, bobPublic))).toBe(shared);
    expect(toHex(x25519(bobPrivate, alicePublic))).toBe(shared);
  });

  it('refuses a low-order peer key (the all-zero shared secret) and keys of the wrong length', () => {
    const anyPrivate = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
    expect(() => x25519(anyPrivate, new Uint8Array(32))).toThrow(SecAggCryptoError);
    expect(() => x25519(anyPrivate, new Uint8Array(31))).toThrow('an X25519 public key must be 32 bytes (got 31)');
  });
});

describe('HKDF-SHA256 (RFC 5869, appendix A)', () => {
  it('test case 1: with salt and info', () => {
    const okm = hkdfSha256(hex('0b'.repeat(22)), hex('000102030405060708090a0b0c'), hex('f0f1f2f3f4f5f6f7f8f9'), 42);
    expect(toHex(okm)).toBe('3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865');
  });

  it('test case 3: empty salt and info', () => {
    const okm = hkdfSha256(hex('0b'.repeat(22)), new Uint8Array(0), new Uint8Array(0), 42);
    expect(toHex(okm)).toBe('8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8');
  });
});

describe('AES-256-GCM (McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 13–16)', () => {
  const zeroKey = new Uint8Array(32);
  const zeroNonce = new Uint8Array(12);

  it('test case 13: empty plaintext, the tag alone', () => {
    expect(toHex(aesGcmEncrypt(zeroKey, zeroNonce, new Uint8Array(0), new Uint8Array(0)))).toBe('530f8afbc74536b9a963b4f1c4cb738b');
  });

  it('test case 14: one zero block', () => {
    expect(toHex(aesGcmEncrypt(zeroKey, zeroNonce, new Uint8Array(16), new Uint8Array(0)))).toBe('cea7403d4d606b6e074ec5d3baf39d18' + 'd0d1c8a799996bf0265b98b5d48ab919');
  });

  const key = hex('feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308');
  const nonce = hex('cafebabefacedbaddecaf888');
  const plaintext = hex(
    'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39',
  );
  const aad = hex('feedfacedeadbeeffeedfacedeadbeefabaddad2');
  const sealed = hex(
    '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662' +
      '76fc6ece0f4e1768cddf8853bb2d551b',
  );

  it('test case 16: with associated data, encrypt and decrypt', () => {
    expect(toHex(aesGcmEncrypt(key, nonce, plaintext, aad))).toBe(toHex(sealed));
    expect(toHex(aesGcmDecrypt(key, nonce, sealed, aad))).toBe(toHex(plaintext));
  });

  it('rejects a flipped ciphertext bit, a flipped tag bit and other associated data', () => {
    const flippedBody = sealed.slice();
    flippedBody[3]! ^= 0x01;
    const flippedTag = sealed.slice();
    flippedTag[sealed.length - 1]! ^= 0x80;
    const otherAad = aad.slice();
    otherAad[0]! ^= 0x01;
    expect(() => aesGcmDecrypt(key, nonce, flippedBody, aad)).toThrow('AES-GCM authentication failed');
    expect(() => aesGcmDecrypt(key, nonce, flippedTag, aad)).toThrow('AES-GCM authentication failed');
    expect(() => aesGcmDecrypt(key, nonce, sealed, otherAad)).toThrow('AES-GCM authentication failed');
    expect(() => aesGcmDecrypt(key, nonce, sealed.subarray(0, 10), aad)).toThrow('shorter than its 16-byte tag');
  });
});

describe('AES-256-CTR (NIST SP 800-38A, F.5.5) and the PRG built on it', () => {
  const key = hex('603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4');
  const counter = hex('f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff');
  const plaintext = hex(
    '6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51 30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710',
  );
  const ciphertext = '601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c52b0930daa23de94ce87017ba2d84988ddfc9c58db67aada613c2dd08457941a6';

  it('CTR-AES256.Encrypt: four blocks', () => {
    expect(toHex(aesCtr(key, counter, plaintext))).toBe(ciphertext);
  });

  it('the PRG is the AES-256-CTR keystream from a zero counter, read as little-endian words', () => {
    const keystream = aesCtr(key, new Uint8Array(16), new Uint8Array(64));
    expect(toHex(prgStream(key)(64))).toBe(toHex(keystream));
    const words = prgWords(key, 16);
    const view = new DataView(keystream.buffer);
    expect(Array.from(words)).toEqual(Array.from({ length: 16 }, (_, i) => view.getUint32(4 * i, true)));
  });

  it('reads a stream in pieces exactly as in one go, across the 64 KiB chunking', () => {
    const whole = prgStream(key)(200_000);
    const stream = prgStream(key);
    const pieces = [stream(7), stream(65_536), stream(100_000), stream(200_000 - 7 - 65_536 - 100_000)];
    expect(toHex(Buffer.concat(pieces))).toBe(toHex(whole));
  });

  it('addPrgWords adds and subtracts the same words prgWords gives, mod 2^32', () => {
    const length = 40_000; // over two 64 KiB chunks of keystream
    const base = Uint32Array.from({ length }, (_, i) => (i * 2_654_435_761) >>> 0);
    const words = prgWords(key, length);
    const plus = base.slice();
    addPrgWords(plus, key, 1);
    expect(plus.every((value, i) => value === ((base[i]! + words[i]!) >>> 0))).toBe(true);
    addPrgWords(plus, key, -1);
    expect(Array.from(plus)).toEqual(Array.from(base));
  });
});
