/**
 * A self-signed TLS certificate made in the test process (`npm:@peculiar/x509` over WebCrypto; no `openssl`
 * subprocess): an ECDSA P-256 leaf, not a CA, for `localhost` and `127.0.0.1`, valid for a day. Trust it in a
 * client with `Deno.createHttpClient({ caCerts: [cert] })`, or in a subprocess with `DENO_CERT=<file>`.
 *
 * @module
 */
import "reflect-metadata"; // @peculiar/x509's dependency injection needs it loaded first
import * as x509 from "@peculiar/x509";

/** A certificate and its private key, PEM text. */
export interface SelfSigned {
  /** The certificate (PEM). */
  cert: string;
  /** Its private key (PKCS#8 PEM). */
  key: string;
  /** The first base64 line of the key: text that no output may ever contain. */
  keyLine: string;
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = btoa(String.fromCharCode(...new Uint8Array(der)));
  return `-----BEGIN ${label}-----\n${b64.match(/.{1,64}/g)!.join("\n")}\n-----END ${label}-----\n`;
}

/** Makes a self-signed server certificate for `names` (DNS names and IP addresses). */
export async function selfSignedCertificate(
  names: string[] = ["localhost", "127.0.0.1"],
): Promise<SelfSigned> {
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: crypto.getRandomValues(new Uint8Array(8)).reduce(
      (s, b) => s + b.toString(16).padStart(2, "0"),
      "7",
    ),
    name: `CN=${names[0]}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    signingAlgorithm: alg,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        names.map((n) => ({ type: /^[\d.]+$|:/.test(n) ? "ip" as const : "dns" as const, value: n })),
      ),
    ],
  });
  const key = pem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  return { cert: cert.toString("pem") + "\n", key, keyLine: key.split("\n")[1] ?? "" };
}
