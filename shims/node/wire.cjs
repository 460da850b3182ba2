'use strict';
// Tern's wire format on fd 3: an 8-byte prefix (header length, body length; big-endian u32),
// a JSON header, then the body bytes. The same framing runs in both directions.
const MAX_HEADER = 1 << 20;
const MAX_BODY = 64 << 20;

function encodeHead(header, bodyLength) {
  const json = Buffer.from(JSON.stringify(header));
  const head = Buffer.allocUnsafe(8 + json.length);
  head.writeUInt32BE(json.length, 0);
  head.writeUInt32BE(bodyLength, 4);
  json.copy(head, 8);
  return head;
}

/** Feeds socket chunks in, calls onFrame(header, body) per complete frame. */
function createDecoder(onFrame) {
  let chunks = [];
  let buffered = 0;
  let need = 8;
  let headerLength = -1;
  let bodyLength = 0;

  function take(n) {
    const all = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, buffered);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    chunks = rest.length ? [rest] : [];
    buffered = rest.length;
    return out;
  }

  return (chunk) => {
    chunks.push(chunk);
    buffered += chunk.length;
    while (buffered >= need) {
      if (headerLength < 0) {
        const prefix = take(8);
        headerLength = prefix.readUInt32BE(0);
        bodyLength = prefix.readUInt32BE(4);
        if (headerLength === 0 || headerLength > MAX_HEADER || bodyLength > MAX_BODY)
          throw new Error('bad frame length');
        need = headerLength + bodyLength;
        continue;
      }
      const frame = take(need);
      const header = JSON.parse(frame.toString('utf8', 0, headerLength));
      const body = frame.subarray(headerLength);
      headerLength = -1;
      need = 8;
      onFrame(header, body);
    }
  };
}

module.exports = { MAX_HEADER, MAX_BODY, encodeHead, createDecoder };
