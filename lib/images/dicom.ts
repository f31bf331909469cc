/**
 * Uncompressed DICOM Part-10 files (128-byte preamble, `DICM`, file meta group in explicit VR little endian)
 * read into one grey frame: implicit and explicit VR little endian data sets only; compressed, big endian and
 * deflated transfer syntaxes are refused by UID. Sequences of undefined length are skipped item by item.
 *
 * @module
 */

/** Transfer syntaxes {@linkcode parseDicom} reads: implicit and explicit VR little endian. */
export const DICOM_TRANSFER_SYNTAXES = ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"] as const;

/** Most pixels (rows x columns) a frame may declare. */
export const DICOM_MAX_PIXELS = 50_000_000;

/** A DICOM file that is malformed or uses what this reader does not support; `offset` is where (bytes). */
export class DicomError extends Error {
  /** Byte offset in the file where the problem was found. */
  offset: number;
  constructor(message: string, offset: number, options?: ErrorOptions) {
    super(`Cannot read DICOM at byte ${offset}: ${message}`, options);
    this.name = "DicomError";
    this.offset = offset;
  }
}

/** One monochrome frame of a DICOM file, with the attributes needed to display it. */
export interface DicomImage {
  /** The transfer syntax UID (0002,0010). */
  transferSyntax: string;
  /** Rows (0028,0010) and Columns (0028,0011). */
  rows: number;
  columns: number;
  /** BitsAllocated (8 or 16), BitsStored, PixelRepresentation (0 unsigned, 1 signed). */
  bitsAllocated: 8 | 16;
  bitsStored: number;
  pixelRepresentation: 0 | 1;
  /** PhotometricInterpretation: MONOCHROME1 shows low values white. */
  photometric: "MONOCHROME1" | "MONOCHROME2";
  /** RescaleSlope (0028,1053) and RescaleIntercept (0028,1052). @default 1 and 0 */
  rescaleSlope: number;
  rescaleIntercept: number;
  /** First WindowCenter / WindowWidth (0028,1050/1051) when present. */
  windowCenter?: number;
  windowWidth?: number;
  /** The stored pixel values, row-major, masked to BitsStored and sign-extended when signed. */
  pixels: Int32Array;
}

const LONG_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]);
const UNDEFINED = 0xffffffff;
const tagName = (t: number) =>
  `(${(t >>> 16).toString(16).padStart(4, "0")},${(t & 0xffff).toString(16).padStart(4, "0")})`.toUpperCase();

/** One element header: tag, VR ("" when implicit), value length, value offset and the next element's offset. */
type Element = { tag: number; vr: string; length: number; value: number; next: number };
/** The file, its view and whether the current data set has explicit VRs. */
type Reader = { bytes: Uint8Array; view: DataView; explicit: boolean };

/** Reads one element header at `off`; item tags (FFFE,xxxx) never carry a VR. */
function _element({ bytes, view, explicit }: Reader, off: number): Element {
  if (off + 8 > bytes.length) {
    throw new DicomError(`truncated element header (${bytes.length} bytes in all)`, off);
  }
  const tag = ((view.getUint16(off, true) << 16) | view.getUint16(off + 2, true)) >>> 0;
  let vr = "", length: number, value: number;
  if (!explicit || tag >>> 16 === 0xfffe) {
    length = view.getUint32(off + 4, true);
    value = off + 8;
  } else {
    vr = String.fromCharCode(bytes[off + 4], bytes[off + 5]);
    if (!/^[A-Z]{2}$/.test(vr)) throw new DicomError(`element ${tagName(tag)} has an invalid VR`, off + 4);
    if (LONG_VRS.has(vr)) {
      if (off + 12 > bytes.length) throw new DicomError(`truncated element header of ${tagName(tag)}`, off);
      length = view.getUint32(off + 8, true);
      value = off + 12;
    } else {
      length = view.getUint16(off + 6, true);
      value = off + 8;
    }
  }
  if (length !== UNDEFINED && value + length > bytes.length) {
    throw new DicomError(
      `element ${tagName(tag)} declares ${length} bytes, only ${bytes.length - value} left`,
      off,
    );
  }
  return { tag, vr, length, value, next: length === UNDEFINED ? value : value + length };
}

/** Skips a sequence (or item) of undefined length starting at `off`; returns the offset after its delimiter. */
function _skipUndefined(reader: Reader, off: number, end: number, depth: number): number {
  if (depth > 32) throw new DicomError("sequences nested more than 32 deep", off);
  for (;;) {
    const el = _element(reader, off);
    if (el.tag === end) return el.value;
    if (el.tag === 0xfffee0dd || el.tag === 0xfffee00d) {
      throw new DicomError(`unexpected delimiter ${tagName(el.tag)}`, off);
    }
    off = el.length === UNDEFINED
      ? _skipUndefined(reader, el.value, el.tag === 0xfffee000 ? 0xfffee00d : 0xfffee0dd, depth + 1)
      : el.next;
  }
}

function _text(bytes: Uint8Array, el: Element): string {
  return new TextDecoder("latin1").decode(bytes.subarray(el.value, el.next)).replace(/[\0 ]+$/, "").trim();
}

function _number(bytes: Uint8Array, el: Element, off: number): number {
  const first = _text(bytes, el).split("\\")[0].trim();
  const n = Number(first);
  if (first === "" || !Number.isFinite(n)) {
    throw new DicomError(
      `element ${tagName(el.tag)} is not a number: ${JSON.stringify(first.slice(0, 20))}`,
      off,
    );
  }
  return n;
}

/**
 * Parses an uncompressed DICOM Part-10 file into one monochrome frame.
 *
 * @param bytes The whole file.
 * @returns The frame and its display attributes.
 * @throws {DicomError} If the file is truncated, lacks `DICM`, uses an unsupported transfer syntax (named by
 * UID), is not one-sample monochrome 8/16-bit, declares more than {@linkcode DICOM_MAX_PIXELS} pixels, or has
 * less pixel data than rows x columns.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeDicom } from "./_dicom_testing.ts";
 * const file = writeDicom(new Uint16Array([0, 1000, 2000, 4095]), 2, 2, { bitsAllocated: 16 });
 * const image = parseDicom(file);
 * assert.deepEqual([image.rows, image.columns, [...image.pixels]], [2, 2, [0, 1000, 2000, 4095]]);
 * assert.throws(() => parseDicom(file.subarray(0, 100)), DicomError);
 * ```
 */
export function parseDicom(bytes: Uint8Array): DicomImage {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!isDicom(bytes)) {
    throw new DicomError(
      'no "DICM" magic at offset 128: not a DICOM Part-10 file',
      Math.min(128, bytes.length),
    );
  }
  let off = 132, transferSyntax = "";
  while (off + 2 <= bytes.length && view.getUint16(off, true) === 0x0002) {
    const el = _element({ bytes, view, explicit: true }, off);
    if (el.length === UNDEFINED) {
      throw new DicomError(`file meta element ${tagName(el.tag)} has undefined length`, off);
    }
    if (el.tag === 0x00020010) transferSyntax = _text(bytes, el);
    off = el.next;
  }
  if (!transferSyntax) throw new DicomError("the file meta group has no transfer syntax (0002,0010)", off);
  if (!(DICOM_TRANSFER_SYNTAXES as readonly string[]).includes(transferSyntax)) {
    throw new DicomError(
      `transfer syntax ${transferSyntax} is not supported (compressed, big endian or deflated); ` +
        `supported: ${DICOM_TRANSFER_SYNTAXES.join(", ")}`,
      off,
    );
  }
  const reader = { bytes, view, explicit: transferSyntax === "1.2.840.10008.1.2.1" };
  const us: Record<number, number> = {};
  const ds: Record<number, number> = {};
  let photometric = "", pixelData: Element | undefined, pixelOffset = off;
  while (off < bytes.length) {
    const el = _element(reader, off);
    if (el.tag === 0x7fe00010) {
      if (el.length === UNDEFINED) throw new DicomError("pixel data (7FE0,0010) is encapsulated", off);
      pixelData = el;
      pixelOffset = off;
      break;
    }
    if (el.length === UNDEFINED) {
      off = _skipUndefined(reader, el.value, 0xfffee0dd, 0);
      continue;
    }
    const group = el.tag >>> 16, elem = el.tag & 0xffff;
    if (group === 0x0028 && [0x0002, 0x0010, 0x0011, 0x0100, 0x0101, 0x0103].includes(elem)) {
      if (el.length < 2) {
        throw new DicomError(`element ${tagName(el.tag)} has ${el.length} bytes, expected 2`, off);
      }
      us[elem] = view.getUint16(el.value, true);
    } else if (group === 0x0028 && elem >= 0x1050 && elem <= 0x1053) {
      ds[elem] = _number(bytes, el, off);
    } else if (el.tag === 0x00280004) {
      photometric = _text(bytes, el);
    }
    off = el.next;
  }
  if (!pixelData) throw new DicomError("no pixel data (7FE0,0010) before the end of the file", off);
  const rows = us[0x0010], columns = us[0x0011], bitsAllocated = us[0x0100];
  const where = pixelOffset;
  if (!rows || !columns) throw new DicomError(`Rows (0028,0010) and Columns (0028,0011) must be > 0`, where);
  if (rows * columns > DICOM_MAX_PIXELS) {
    throw new DicomError(`${columns}x${rows} pixels is more than the limit of ${DICOM_MAX_PIXELS}`, where);
  }
  if ((us[0x0002] ?? 1) !== 1) {
    throw new DicomError(`SamplesPerPixel (0028,0002) is ${us[0x0002]}, not 1`, where);
  }
  if (photometric !== "MONOCHROME1" && photometric !== "MONOCHROME2") {
    throw new DicomError(
      `PhotometricInterpretation (0028,0004) is "${
        photometric.slice(0, 16)
      }", not MONOCHROME1 or MONOCHROME2`,
      where,
    );
  }
  if (bitsAllocated !== 8 && bitsAllocated !== 16) {
    throw new DicomError(`BitsAllocated (0028,0100) is ${bitsAllocated}, not 8 or 16`, where);
  }
  const bitsStored = us[0x0101] ?? bitsAllocated;
  if (bitsStored < 1 || bitsStored > bitsAllocated) {
    throw new DicomError(`BitsStored (0028,0101) is ${bitsStored}, not 1..${bitsAllocated}`, where);
  }
  const pixelRepresentation = us[0x0103] ?? 0;
  if (pixelRepresentation !== 0 && pixelRepresentation !== 1) {
    throw new DicomError(`PixelRepresentation (0028,0103) is ${pixelRepresentation}, not 0 or 1`, where);
  }
  const step = bitsAllocated / 8, count = rows * columns;
  if (pixelData.length < count * step) {
    throw new DicomError(
      `pixel data (7FE0,0010) has ${pixelData.length} bytes, ${columns}x${rows}x${step} needs ${
        count * step
      }`,
      where,
    );
  }
  const pixels = new Int32Array(count);
  const mask = 2 ** bitsStored - 1, sign = 2 ** (bitsStored - 1);
  for (let i = 0; i < count; i++) {
    const p = pixelData.value + i * step;
    const raw = (step === 2 ? view.getUint16(p, true) : bytes[p]) & mask;
    pixels[i] = pixelRepresentation === 1 && raw >= sign ? raw - 2 * sign : raw;
  }
  const windowWidth = ds[0x1051], windowCenter = ds[0x1050];
  const hasWindow = windowWidth !== undefined && windowCenter !== undefined && windowWidth >= 1;
  return {
    transferSyntax,
    rows,
    columns,
    bitsAllocated,
    bitsStored,
    pixelRepresentation,
    photometric,
    rescaleSlope: ds[0x1053] ?? 1,
    rescaleIntercept: ds[0x1052] ?? 0,
    ...(hasWindow ? { windowCenter, windowWidth } : {}),
    pixels,
  };
}

/**
 * Renders a frame to 8-bit grey: rescale, then the DICOM linear window (PS3.3 C.11.2.1.2) or min-max when the
 * file has no window, then MONOCHROME1 inverted so that 255 is always white.
 *
 * @param image A frame from {@linkcode parseDicom}.
 * @returns Row-major grey pixels with their width and height.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const image = parseDicom((await import("./_dicom_testing.ts")).writeDicom(new Uint8Array([10, 20, 30, 40]), 2, 2));
 * assert.deepEqual([...dicomToGrey(image).data], [0, 85, 170, 255]);
 * ```
 */
export function dicomToGrey(image: DicomImage): { data: Uint8Array; width: number; height: number } {
  const { pixels, rescaleSlope: m, rescaleIntercept: b, windowCenter: c, windowWidth: w } = image;
  const data = new Uint8Array(pixels.length);
  let lo = Infinity, hi = -Infinity;
  if (c === undefined || w === undefined) {
    for (const p of pixels) {
      const v = p * m + b;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  for (let i = 0; i < pixels.length; i++) {
    const x = pixels[i] * m + b;
    let y: number;
    if (c === undefined || w === undefined) {
      y = hi > lo ? ((x - lo) / (hi - lo)) * 255 : 0;
    } else if (x <= c - 0.5 - (w - 1) / 2) {
      y = 0;
    } else if (x > c - 0.5 + (w - 1) / 2) {
      y = 255;
    } else {
      y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255;
    }
    const g = Math.min(255, Math.max(0, Math.round(y)));
    data[i] = image.photometric === "MONOCHROME1" ? 255 - g : g;
  }
  return { data, width: image.columns, height: image.rows };
}

/**
 * Whether bytes start like a DICOM Part-10 file (`DICM` at offset 128).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const bytes = new Uint8Array(132);
 * bytes.set([0x44, 0x49, 0x43, 0x4d], 128);
 * assert.equal(isDicom(bytes), true);
 * assert.equal(isDicom(new Uint8Array(10)), false);
 * ```
 */
export function isDicom(bytes: Uint8Array): boolean {
  return bytes.length >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 &&
    bytes[131] === 0x4d;
}
