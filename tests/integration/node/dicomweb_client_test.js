// A real DICOMweb client (npm dicomweb-client, as used by OHIF) against a running dxhub.
// Usage: node dicomweb_client_test.js '<json>' where json is
//   {url, token, study, series, sop, j2k: {study, series, sop, syntax}, store: <Part-10 file>}
// Prints one JSON line with what the client saw; the Python test checks it.
'use strict';
global.XMLHttpRequest = require('xhr2');
const fs = require('fs');
const crypto = require('crypto');
const { api } = require('dicomweb-client');

const sha256 = (buffer) => crypto.createHash('sha256').update(Buffer.from(buffer)).digest('hex');

async function main() {
  const args = JSON.parse(process.argv[2]);
  const { study, series, sop } = args;
  const client = new api.DICOMwebClient({
    url: args.url, singlepart: false, headers: { Authorization: `Bearer ${args.token}` },
  });
  const out = {};
  const studies = await client.searchForStudies({ queryParams: { StudyInstanceUID: study } });
  out.studies = studies.map((s) => s['0020000D'].Value[0]);
  const allSeries = await client.searchForSeries({ studyInstanceUID: study });
  out.series = allSeries.map((s) => s['0020000E'].Value[0]);
  const instances = await client.searchForInstances({
    studyInstanceUID: study, seriesInstanceUID: series,
  });
  out.instances = instances.map((i) => i['00080018'].Value[0]);
  const metadata = await client.retrieveInstanceMetadata({
    studyInstanceUID: study, seriesInstanceUID: series, sopInstanceUID: sop,
  });
  out.metadata_sop = metadata[0]['00080018'].Value[0];
  out.metadata_pixel_bulk = metadata[0]['7FE00010'].BulkDataURI || null;
  const instance = await client.retrieveInstance({
    studyInstanceUID: study, seriesInstanceUID: series, sopInstanceUID: sop,
  });
  const bytes = new Uint8Array(instance);
  out.instance_bytes = bytes.length;
  out.instance_magic = Buffer.from(bytes.slice(128, 132)).toString('latin1');

  // Frames: native (the client's default), then the stored JPEG 2000 bitstream, as a viewer
  // that decodes in the browser asks for it.
  const native = await client.retrieveInstanceFrames({
    studyInstanceUID: study, seriesInstanceUID: series, sopInstanceUID: sop, frameNumbers: [1],
  });
  out.native_frames = native.map((f) => ({ bytes: f.byteLength, sha256: sha256(f) }));
  const { j2k } = args;
  const compressed = await client.retrieveInstanceFrames({
    studyInstanceUID: j2k.study,
    seriesInstanceUID: j2k.series,
    sopInstanceUID: j2k.sop,
    frameNumbers: [1],
    mediaTypes: [{ mediaType: 'image/jp2', transferSyntaxUID: j2k.syntax }],
  });
  out.j2k_frames = compressed.map((f) => ({ bytes: f.byteLength, sha256: sha256(f) }));

  // Store: STOW-RS of one Part-10 file.
  const file = fs.readFileSync(args.store);
  const buffer = file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength);
  const stored = await client.storeInstances({ datasets: [buffer] });
  out.store_response = stored ? JSON.parse(Buffer.from(stored).toString('utf8') || 'null') : null;
  console.log(JSON.stringify(out));
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
