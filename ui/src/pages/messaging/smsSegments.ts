// SMS length: GSM-7 (160 characters in one part, 153 per part when split; the extension
// table's characters take two) unless any character is outside it, then UCS-2 (70 / 67,
// counted in UTF-16 units, so an emoji takes two). One Cyrillic letter switches the whole text.

const GSM_BASIC =
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM_EXTENSION = "^{}\\[~]|€\f";
const BASIC = new Set(GSM_BASIC);
const EXTENSION = new Set(GSM_EXTENSION);

export interface SmsLength {
  encoding: "GSM-7" | "UCS-2";
  units: number; // septets (GSM-7) or UTF-16 code units (UCS-2)
  segments: number;
  perSegment: number;
  left: number; // units left in the last segment
}

/** `smsLength("Hello")` → GSM-7, 5 units, 1 segment; `smsLength("Привіт")` → UCS-2, 6 units, 1 segment. */
export function smsLength(text: string): SmsLength {
  let septets = 0;
  let gsm = true;
  for (const ch of text) {
    if (BASIC.has(ch)) septets += 1;
    else if (EXTENSION.has(ch)) septets += 2;
    else {
      gsm = false;
      break;
    }
  }
  const [single, multi, units] = gsm ? [160, 153, septets] : [70, 67, text.length];
  const segments = units === 0 ? 0 : units <= single ? 1 : Math.ceil(units / multi);
  const perSegment = segments > 1 ? multi : single;
  const left = segments === 0 ? single : segments * perSegment - units;
  return { encoding: gsm ? "GSM-7" : "UCS-2", units, segments, perSegment, left };
}
