// A DKIM key made in the browser (WebCrypto): RSA-2048, PKCS#8 PEM for the form, and the TXT
// record of its public half. The private key only ever goes to the server, in the save.

function base64(bytes: ArrayBuffer): string {
  let s = "";
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s);
}

export async function generateDkimKey(): Promise<{ pem: string; record: string }> {
  const pair = await crypto.subtle.generateKey(
    { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    true, ["sign", "verify"],
  );
  const pkcs8 = base64(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const spki = base64(await crypto.subtle.exportKey("spki", pair.publicKey));
  const pem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.match(/.{1,64}/g)!.join("\n")}\n-----END PRIVATE KEY-----\n`;
  return { pem, record: `v=DKIM1; k=rsa; p=${spki}` };
}
