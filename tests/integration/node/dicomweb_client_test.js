// A real DICOMweb client (npm dicomweb-client, as used by OHIF) against a running dxhub.
// Usage: node dicomweb_client_test.js <base-url> <study-uid> <series-uid> <sop-uid>
// Prints one JSON line with what the client saw; the Python test checks it.
'use strict';
global.XMLHttpRequest = require('xhr2');
const { api } = require('dicomweb-client');

async function main() {
  const [url, study, series, sop] = process.argv.slice(2);
  const client = new api.DICOMwebClient({ url, singlepart: false });
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
  console.log(JSON.stringify(out));
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
