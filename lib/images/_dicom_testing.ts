/**
 * Test-only DICOM Part-10 writer: grey pixels to an uncompressed file in implicit or explicit VR little endian,
 * or given compressed fragments as encapsulated pixel data.
 *
 * @module
 */
import { Buffer } from "node:buffer";

/**
 * Where Debian's python3-pydicom (a test dependency in scripts/setup.sh) puts pydicom's real DICOM test files.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.match(PYDICOM_FILES, /pydicom\/data\/test_files$/);
 * ```
 */
export const PYDICOM_FILES = "/usr/lib/python3/dist-packages/pydicom/data/test_files";

/** Options of {@linkcode writeDicom}. */
export interface WriteDicomOptions {
  /** Transfer syntax UID written to (0002,0010); any UID other than implicit VR LE is written as explicit VR LE. @default "1.2.840.10008.1.2.1" */
  transferSyntax?: string;
  /** 8 or 16. @default 8 */
  bitsAllocated?: 8 | 16;
  /** @default bitsAllocated */
  bitsStored?: number;
  /** @default "MONOCHROME2" */
  photometric?: string;
  /** @default 1 */
  samplesPerPixel?: number;
  rescaleSlope?: number;
  rescaleIntercept?: number;
  windowCenter?: number;
  windowWidth?: number;
  /** Add a sequence of undefined length (one item of undefined length) before the image attributes. */
  sequence?: boolean;
  /** Compressed frame fragments: written as encapsulated pixel data (empty offset table) instead of `pixels`. */
  fragments?: Uint8Array[];
}

const IMPLICIT = "1.2.840.10008.1.2";
const LONG = new Set(["OB", "OW", "SQ", "UN", "UT"]);

function pad(value: Uint8Array | string, vr: string): Uint8Array {
  const bytes = typeof value === "string" ? new TextEncoder().encode(value) : value;
  return bytes.length % 2 === 0
    ? bytes
    : concat([bytes, new Uint8Array([vr === "UI" || vr === "OB" ? 0 : 0x20])]);
}

/** Encodes one element; `length` overrides the value's length (e.g. 0xFFFFFFFF for undefined). */
function element(
  tag: number,
  vr: string,
  value: Uint8Array | string,
  explicit: boolean,
  length?: number,
): Uint8Array {
  const v = pad(value, vr);
  const len = length ?? v.length;
  const long = explicit && LONG.has(vr);
  const head = new Uint8Array(explicit ? (long ? 12 : 8) : 8);
  const dv = new DataView(head.buffer);
  dv.setUint16(0, tag >>> 16, true);
  dv.setUint16(2, tag & 0xffff, true);
  if (!explicit || tag >>> 16 === 0xfffe) {
    dv.setUint32(4, len, true);
  } else {
    head[4] = vr.charCodeAt(0);
    head[5] = vr.charCodeAt(1);
    if (long) dv.setUint32(8, len, true);
    else dv.setUint16(6, len, true);
  }
  return concat([head, v]);
}

function us(n: number): Uint8Array {
  return new Uint8Array(new Uint16Array([n]).buffer);
}

/** The parts one after another, in a plain Uint8Array (a Buffer's `slice` would not copy). */
function concat(parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/**
 * Writes grey pixels as a DICOM Part-10 file.
 *
 * @param pixels Row-major stored values (`Uint8Array` for 8 bits, `Uint16Array` for 16).
 * @param width Columns.
 * @param height Rows.
 * @param options Transfer syntax, bit depth, photometric interpretation, rescale and window.
 * @returns The file's bytes.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const file = writeDicom(new Uint8Array([1, 2, 3, 4]), 2, 2);
 * assert.equal(new TextDecoder().decode(file.subarray(128, 132)), "DICM");
 * ```
 */
export function writeDicom(
  pixels: Uint8Array | Uint16Array,
  width: number,
  height: number,
  options: WriteDicomOptions = {},
): Uint8Array {
  const ts = options.transferSyntax ?? "1.2.840.10008.1.2.1";
  const explicit = ts !== IMPLICIT;
  const bits = options.bitsAllocated ?? 8;
  const metaBody = concat([
    element(0x00020001, "OB", new Uint8Array([0, 1]), true),
    element(0x00020002, "UI", "1.2.840.10008.5.1.4.1.1.1.1", true),
    element(0x00020003, "UI", "1.2.3.4.5", true),
    element(0x00020010, "UI", ts, true),
  ]);
  const groupLength = new Uint8Array(new Uint32Array([metaBody.length]).buffer);
  const parts: Uint8Array[] = [
    new Uint8Array(128),
    new TextEncoder().encode("DICM"),
    element(0x00020000, "UL", groupLength, true),
    metaBody,
    element(0x00080060, "CS", "DX", explicit),
  ];
  const none = new Uint8Array(0);
  if (options.sequence) {
    parts.push(
      element(0x00081140, "SQ", none, explicit, 0xffffffff),
      element(0xfffee000, "", none, explicit, 0xffffffff),
      element(0x00081150, "UI", "1.2.840.10008.5.1.4.1.1.1", explicit),
      element(0xfffee00d, "", none, explicit),
      element(0xfffee0dd, "", none, explicit),
    );
  }
  parts.push(
    element(0x00280002, "US", us(options.samplesPerPixel ?? 1), explicit),
    element(0x00280004, "CS", options.photometric ?? "MONOCHROME2", explicit),
    element(0x00280010, "US", us(height), explicit),
    element(0x00280011, "US", us(width), explicit),
    element(0x00280100, "US", us(bits), explicit),
    element(0x00280101, "US", us(options.bitsStored ?? bits), explicit),
    element(0x00280102, "US", us((options.bitsStored ?? bits) - 1), explicit),
    element(0x00280103, "US", us(0), explicit),
  );
  // WindowCenter, WindowWidth, RescaleIntercept, RescaleSlope: (0028,1050) to (0028,1053), each when given
  [options.windowCenter, options.windowWidth, options.rescaleIntercept, options.rescaleSlope].forEach(
    (v, i) => {
      if (v !== undefined) parts.push(element(0x00281050 + i, "DS", String(v), explicit));
    },
  );
  if (options.fragments) {
    parts.push(
      element(0x7fe00010, "OB", none, explicit, 0xffffffff),
      element(0xfffee000, "", none, explicit),
      ...options.fragments.map((f) => element(0xfffee000, "OB", f, false)),
      element(0xfffee0dd, "", none, explicit),
    );
  } else {
    const data = bits === 16 ? new Uint8Array(Uint16Array.from(pixels).buffer) : Uint8Array.from(pixels);
    parts.push(element(0x7fe00010, bits === 16 ? "OW" : "OB", data, explicit));
  }
  return concat(parts);
}
