/**
 * DICOM Part-10 files read into one grey frame: `dicom-parser` reads the data set (implicit and explicit VR,
 * little and big endian, deflated), the cornerstone codecs decode compressed pixel data (OpenJPEG for JPEG 2000,
 * CharLS for JPEG-LS, libjpeg-turbo for 8-bit baseline JPEG; emscripten builds whose `.wasm` sits next to their
 * JS in node_modules, loaded on first use), `jpeg-lossless-decoder-js` decodes JPEG lossless (process 14), and
 * RLE Lossless is decoded here (PackBits per byte plane, PS3.5 Annex G: no maintained npm package does it alone).
 *
 * Sizes are checked before anything is allocated: the header's rows x columns against
 * {@linkcode DICOM_MAX_PIXELS} and the caller's limits, and a compressed stream's own size against the header.
 *
 * @module
 */
import { inflateRawSync } from "node:zlib";
import dicomParser from "dicom-parser";
import openjpeg from "@cornerstonejs/codec-openjpeg/decodewasmjs";
import charls from "@cornerstonejs/codec-charls/decodewasmjs";
import libjpegTurbo from "@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs";
import { Decoder as JpegLosslessDecoder } from "jpeg-lossless-decoder-js";
import { checkDecodeLimits, type DecodeLimits } from "./decode.ts";
import { ImagesError } from "./errors.ts";
import { isDicom } from "./sniff.ts";

const SYNTAX_NAMES = {
  "1.2.840.10008.1.2": "implicit VR little endian",
  "1.2.840.10008.1.2.1": "explicit VR little endian",
  "1.2.840.10008.1.2.1.99": "deflated explicit VR little endian",
  "1.2.840.10008.1.2.2": "explicit VR big endian",
  "1.2.840.10008.1.2.5": "RLE lossless",
  "1.2.840.10008.1.2.4.50": "JPEG baseline",
  "1.2.840.10008.1.2.4.51": "JPEG extended, 8-bit",
  "1.2.840.10008.1.2.4.57": "JPEG lossless",
  "1.2.840.10008.1.2.4.70": "JPEG lossless SV1",
  "1.2.840.10008.1.2.4.80": "JPEG-LS lossless",
  "1.2.840.10008.1.2.4.81": "JPEG-LS near-lossless",
  "1.2.840.10008.1.2.4.90": "JPEG 2000 lossless",
  "1.2.840.10008.1.2.4.91": "JPEG 2000",
} as const;
const RLE = "1.2.840.10008.1.2.5";

/** Most pixels (rows x columns) a frame may declare. */
export const DICOM_MAX_PIXELS = 50_000_000;

/** A DICOM file that is malformed or uses what this reader does not support; `offset` is where (bytes). */
export class DicomError extends ImagesError {
  /**
   * @param message What is wrong; the message says `Cannot read DICOM at byte <offset>: <message>`.
   * @param offset Byte offset in the file where the problem was found.
   * @param options `cause`: the parser's or codec's error.
   */
  constructor(message: string, readonly offset: number, options?: ErrorOptions) {
    super(`Cannot read DICOM at byte ${offset}: ${message}`, options);
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

type DataSet = ReturnType<typeof dicomParser.parseDicom>;
type Element = DataSet["elements"][string];
/** The embind decoder classes the three cornerstone codecs share. */
type WasmDecoder = {
  getEncodedBuffer(length: number): Uint8Array;
  decode(): void;
  getDecodedBuffer(): Uint8Array;
  getFrameInfo(): { width: number; height: number; componentCount: number };
  delete(): void;
};
type CodecModule = Record<string, new () => WasmDecoder>;
type WasmCodec = { name: string; factory: (module: object) => Promise<CodecModule>; cls: string };
const CODECS = {
  j2k: { name: "OpenJPEG", factory: openjpeg, cls: "J2KDecoder" },
  jls: { name: "CharLS", factory: charls, cls: "JpegLSDecoder" },
  jpeg: { name: "libjpeg-turbo", factory: libjpegTurbo, cls: "JPEGDecoder" },
} satisfies Record<string, WasmCodec>;
const codecModules = new Map<WasmCodec, Promise<CodecModule>>();

const tagName = (t: string) => `(${t.slice(1, 5)},${t.slice(5)})`.toUpperCase();
const errorText = (e: unknown) =>
  String((e as { exception?: unknown })?.exception ?? (e as Error)?.message ?? e).replace(
    /^dicomParser[.:]\s*/,
    "",
  );

/** An element that runs past the end of the file, named with what it declares and what is left. */
function truncation(elements: Element[], length: number, cause?: unknown): DicomError | undefined {
  const over = elements.find((el) => el.length !== 0xffffffff && el.dataOffset + el.length > length);
  if (!over) return undefined;
  const left = Math.max(0, length - over.dataOffset);
  return new DicomError(
    `element ${tagName(over.tag)} declares ${over.length} bytes, only ${left} left (the file is truncated)`,
    over.dataOffset,
    { cause },
  );
}

/** Reads the data set; a failure says where parsing stopped (the end of the last whole element). */
function parseDataSet(bytes: Uint8Array): DataSet {
  let ds: DataSet;
  try {
    ds = dicomParser.parseDicom(bytes, {
      // deflated: inflate the body after the meta group, at most what the pixel cap allows
      inflater: (head: Uint8Array, at: number) => {
        const body = inflateRawSync(head.subarray(at), { maxOutputLength: DICOM_MAX_PIXELS * 2 + (1 << 24) });
        const out = new Uint8Array(at + body.length);
        out.set(head.subarray(0, at));
        out.set(body, at);
        return out;
      },
    });
  } catch (e) {
    const elements = Object.values((e as { dataSet?: DataSet })?.dataSet?.elements ?? {});
    const truncated = truncation(elements, bytes.length, e);
    if (truncated) throw truncated;
    const end = Math.max(132, ...elements.map((el) => el.dataOffset + Math.max(0, el.length)));
    const message = `malformed or truncated (${bytes.length} bytes in all): ${errorText(e)}`;
    throw new DicomError(message, end, { cause: e });
  }
  const truncated = truncation(Object.values(ds.elements), ds.byteArray.length);
  if (truncated) throw truncated;
  return ds;
}

function numberAt(ds: DataSet, tag: string): number | undefined {
  const el = ds.elements[tag];
  if (!el) return undefined;
  const first = (ds.string(tag, 0) ?? "").trim();
  const n = Number(first);
  if (first === "" || !Number.isFinite(n)) {
    const shown = JSON.stringify(first.slice(0, 20));
    throw new DicomError(`element ${tagName(tag)} is not a number: ${shown}`, el.dataOffset);
  }
  return n;
}

/** Decodes RLE Lossless (PS3.5 Annex G): one PackBits segment per byte plane, most significant first. */
function decodeRle(frame: Uint8Array, count: number, step: number, at: number): Uint8Array {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const segments = frame.length >= 64 ? view.getUint32(0, true) : 0;
  if (segments !== step) {
    throw new DicomError(`RLE header declares ${segments} segments, ${step * 8}-bit grey needs ${step}`, at);
  }
  const out = new Uint8Array(count * step);
  for (let s = 0; s < step; s++) {
    let i = view.getUint32(4 + 4 * s, true), o = 0;
    const end = s + 1 < segments ? view.getUint32(8 + 4 * s, true) : frame.length;
    const put = (b: number) => void (out[o++ * step + step - 1 - s] = b); // little endian out
    while (o < count && i < Math.min(end, frame.length)) {
      const n = (frame[i++]! << 24) >> 24; // i < frame.length (the loop's condition)
      if (n >= 0) { for (let k = 0; k <= n && o < count && i < frame.length; k++) put(frame[i++]!); }
      else if (n !== -128) {
        const b = frame[i++] ?? 0; // a run cut by the end of the frame repeats 0
        for (let k = 0; k <= -n && o < count; k++) put(b);
      }
    }
    if (o < count) throw new DicomError(`RLE segment ${s + 1} ends after ${o} of ${count} pixels`, at);
  }
  return out;
}

/** Width, height and bits of a JPEG or JPEG-LS stream (SOF0..15, SOF55) or a JPEG 2000 codestream (SIZ). */
function streamSize(frame: Uint8Array): [number, number, number] | undefined {
  // Every read below is within the bounds its loop checks (i + 44 or i + 9 < frame.length).
  const u16 = (i: number) => (frame[i]! << 8) | frame[i + 1]!;
  const u32 = (i: number) => u16(i) * 65536 + u16(i + 2);
  const jpeg = frame[0] === 0xff && frame[1] === 0xd8;
  for (let i = 0; !jpeg && i + 44 < frame.length && i < 4096; i++) { // SIZ follows SOC, after any JP2 boxes
    if (u32(i) === 0xff4fff51) {
      return [u32(i + 8) - u32(i + 16), u32(i + 12) - u32(i + 20), (frame[i + 42]! & 0x7f) + 1];
    }
  }
  for (let i = 2; jpeg && i + 9 < frame.length;) {
    if (frame[i] !== 0xff) return undefined;
    const m = frame[i + 1]!;
    if ((m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) || m === 0xf7) {
      return [u16(i + 7), u16(i + 5), frame[i + 4]!];
    }
    i += m === 0xff ? 1 : 2 + u16(i + 2);
  }
  return undefined;
}

/** Decodes one compressed frame, the stream's own size checked against the header's before anything is allocated. */
async function decodeStream(
  ts: string,
  frame: Uint8Array,
  dims: [number, number],
  at: number,
): Promise<Uint8Array> {
  const jpegLossless = ts.endsWith(".4.57") || ts.endsWith(".4.70");
  const codec = ts.includes(".4.9") ? CODECS.j2k : ts.includes(".4.8") ? CODECS.jls : CODECS.jpeg;
  const name = jpegLossless ? "jpeg-lossless-decoder-js" : codec.name;
  const size = streamSize(frame);
  if (!size || size[0] !== dims[0] || size[1] !== dims[1]) {
    const got = size ? `${size[0]}x${size[1]}` : "of no size we can read";
    throw new DicomError(`the compressed stream is ${got}, the header says ${dims.join("x")}`, at);
  }
  if (codec === CODECS.jpeg && !jpegLossless && size[2] > 8) {
    throw new DicomError(
      `a ${size[2]}-bit JPEG (transfer syntax ${ts}) is not supported: libjpeg-turbo decodes 8-bit JPEG only`,
      at,
    );
  }
  let decoder: WasmDecoder | undefined;
  try {
    if (jpegLossless) {
      const copy = frame.slice();
      return new Uint8Array(new JpegLosslessDecoder().decompress(copy.buffer, 0, copy.length));
    }
    const module: Promise<CodecModule> = codecModules.get(codec) ??
      codec.factory({ print: () => {}, printErr: () => {} });
    codecModules.set(codec, module);
    const Decoder = (await module)[codec.cls];
    if (!Decoder) throw new DicomError(`the ${name} module has no ${codec.cls}`, at);
    decoder = new Decoder();
    decoder.getEncodedBuffer(frame.length).set(frame);
    decoder.decode();
    const components = decoder.getFrameInfo().componentCount;
    if (components !== 1) throw new DicomError(`the ${name} stream has ${components} components, not 1`, at);
    return decoder.getDecodedBuffer().slice();
  } catch (e) {
    if (e instanceof DicomError) throw e;
    codecModules.delete(codec); // an aborted wasm instance is not reused
    throw new DicomError(`${name} cannot decode the pixel data: ${errorText(e)}`, at, { cause: e });
  } finally {
    try {
      decoder?.delete();
    } catch { /* gone with an aborted instance */ }
  }
}

/** The first frame's bytes (little endian unless big endian is uncompressed), decoded when compressed. */
async function readFrame(ds: DataSet, el: Element, ts: string, dims: [number, number], step: number) {
  const count = dims[0] * dims[1], at = el.dataOffset;
  if (!el.encapsulatedPixelData) {
    if (ts.startsWith("1.2.840.10008.1.2.4") || ts === RLE) {
      throw new DicomError(`pixel data (7FE0,0010) of transfer syntax ${ts} is not encapsulated`, at);
    }
    if (el.length < count * step) {
      throw new DicomError(
        `pixel data (7FE0,0010) has ${el.length} bytes, ${dims.join("x")}x${step} needs ${count * step}`,
        at,
      );
    }
    return { data: ds.byteArray.subarray(at, at + count * step), littleEndian: ts !== "1.2.840.10008.1.2.2" };
  }
  let frame: Uint8Array;
  try {
    const frames = Number(ds.intString("x00280008") ?? 1);
    const fragments = frames > 1 ? 1 : el.fragments?.length ?? 0;
    frame = frames > 1 && el.basicOffsetTable?.length
      ? dicomParser.readEncapsulatedImageFrame(ds, el, 0)
      : dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, 0, fragments);
  } catch (e) {
    throw new DicomError(`cannot read the encapsulated pixel data: ${errorText(e)}`, at, { cause: e });
  }
  const data = ts === RLE ? decodeRle(frame, count, step, at) : await decodeStream(ts, frame, dims, at);
  if (data.length !== count && data.length !== count * 2) {
    const message = `the decoded frame has ${data.length} bytes, ${dims.join("x")} pixels need ${
      count * step
    }`;
    throw new DicomError(message, at);
  }
  return { data, littleEndian: true };
}

/**
 * Parses a DICOM Part-10 file into its first frame, monochrome, decoding compressed pixel data.
 *
 * @param bytes The whole file.
 * @param limits Most pixels and decoded bytes (rows x columns x BitsAllocated / 8), checked from the header
 * before any pixel is decoded or allocated; {@linkcode DICOM_MAX_PIXELS} applies always.
 * @returns The frame and its display attributes.
 * @throws {DicomError} If the file is truncated (naming the element and where), lacks `DICM`, uses an
 * unsupported transfer syntax (naming its UID and the supported ones), is not one-sample monochrome 8/16-bit,
 * declares more than {@linkcode DICOM_MAX_PIXELS} pixels, or its pixel data is short or cannot be decoded.
 * @throws {DecodeError} If the frame is over `limits` (as {@linkcode checkDecodeLimits} words it).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeDicom } from "./_dicom_testing.ts";
 * const file = writeDicom(new Uint16Array([0, 1000, 2000, 4095]), 2, 2, { bitsAllocated: 16 });
 * const image = await parseDicom(file);
 * assert.deepEqual([image.rows, image.columns, [...image.pixels]], [2, 2, [0, 1000, 2000, 4095]]);
 * await assert.rejects(parseDicom(file.subarray(0, 100)), DicomError);
 * await assert.rejects(parseDicom(file, { maxDecodedBytes: 7 }), /2x2 pixels, 1 channel of 16 bits: 8 bytes/);
 * ```
 */
export async function parseDicom(bytes: Uint8Array, limits: DecodeLimits = {}): Promise<DicomImage> {
  if (!isDicom(bytes)) {
    const message = 'no "DICM" magic at offset 128: not a DICOM Part-10 file';
    throw new DicomError(message, Math.min(128, bytes.length));
  }
  const ds = parseDataSet(bytes);
  const transferSyntax = ds.string("x00020010") ?? "";
  const el = ds.elements.x7fe00010;
  const where = el?.dataOffset ?? ds.byteArray.length;
  if (!(transferSyntax in SYNTAX_NAMES)) {
    const supported = Object.entries(SYNTAX_NAMES).map(([uid, name]) => `${uid} (${name})`).join(", ");
    throw new DicomError(`transfer syntax ${transferSyntax} is not supported; supported: ${supported}`, 132);
  }
  if (!el) throw new DicomError("no pixel data (7FE0,0010) before the end of the file", where);
  const us = (tag: string) => ds.elements[tag]?.length ? ds.uint16(tag) : undefined;
  const rows = us("x00280010") ?? 0, columns = us("x00280011") ?? 0, bitsAllocated = us("x00280100");
  if (!rows || !columns) throw new DicomError(`Rows (0028,0010) and Columns (0028,0011) must be > 0`, where);
  if (rows * columns > DICOM_MAX_PIXELS) {
    throw new DicomError(`${columns}x${rows} pixels is more than the limit of ${DICOM_MAX_PIXELS}`, where);
  }
  const samples = us("x00280002") ?? 1;
  if (samples !== 1) throw new DicomError(`SamplesPerPixel (0028,0002) is ${samples}, not 1`, where);
  const photometric = (ds.string("x00280004") ?? "").trim();
  if (photometric !== "MONOCHROME1" && photometric !== "MONOCHROME2") {
    const shown = photometric.slice(0, 16);
    const message = `PhotometricInterpretation (0028,0004) is "${shown}", not MONOCHROME1 or MONOCHROME2`;
    throw new DicomError(message, where);
  }
  if (bitsAllocated !== 8 && bitsAllocated !== 16) {
    throw new DicomError(`BitsAllocated (0028,0100) is ${bitsAllocated}, not 8 or 16`, where);
  }
  const bitsStored = us("x00280101") ?? bitsAllocated;
  if (bitsStored < 1 || bitsStored > bitsAllocated) {
    throw new DicomError(`BitsStored (0028,0101) is ${bitsStored}, not 1..${bitsAllocated}`, where);
  }
  const pixelRepresentation = us("x00280103") ?? 0;
  if (pixelRepresentation !== 0 && pixelRepresentation !== 1) {
    throw new DicomError(`PixelRepresentation (0028,0103) is ${pixelRepresentation}, not 0 or 1`, where);
  }
  const [windowCenter, windowWidth] = [numberAt(ds, "x00281050"), numberAt(ds, "x00281051")];
  const [rescaleIntercept, rescaleSlope] = [numberAt(ds, "x00281052"), numberAt(ds, "x00281053")];
  const step = bitsAllocated / 8, count = rows * columns;
  checkDecodeLimits({
    format: "dicom",
    width: columns,
    height: rows,
    channels: 1,
    bitsPerSample: bitsAllocated,
    interlaced: false,
    decodedBytes: count * step,
  }, limits);
  const { data, littleEndian } = await readFrame(ds, el, transferSyntax, [columns, rows], step);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const wide = data.length >= count * 2;
  const pixels = new Int32Array(count);
  const mask = 2 ** bitsStored - 1, sign = 2 ** (bitsStored - 1);
  for (let i = 0; i < count; i++) {
    const raw = (wide ? view.getUint16(i * 2, littleEndian) : data[i]!) & mask;
    pixels[i] = pixelRepresentation === 1 && raw >= sign ? raw - 2 * sign : raw;
  }
  const hasWindow = windowWidth !== undefined && windowCenter !== undefined && windowWidth >= 1;
  return {
    transferSyntax,
    rows,
    columns,
    bitsAllocated,
    bitsStored,
    pixelRepresentation,
    photometric,
    rescaleSlope: rescaleSlope ?? 1,
    rescaleIntercept: rescaleIntercept ?? 0,
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
 * const image = await parseDicom((await import("./_dicom_testing.ts")).writeDicom(new Uint8Array([10, 20, 30, 40]), 2, 2));
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
    const x = pixels[i]! * m + b;
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
