// Uploads one photo to gridsync with tus-js-client, the stock JavaScript tus
// client (browsers, React Native, Node), as docs/PROTOCOL-photos.md shows.
// Used by server/http/tusjs_test.go. Arguments: endpoint, token, file,
// sha256, chunk size. Prints the upload URL on success.
const fs = require('fs');
const tus = require('tus-js-client');

const [endpoint, token, file, sha256, chunkSize] = process.argv.slice(2);
const data = fs.readFileSync(file);
const upload = new tus.Upload(data, {
  endpoint,
  headers: { Authorization: 'Bearer ' + token },
  metadata: { sha256, filename: 'IMG_0001.jpg', filetype: 'image/jpeg' },
  chunkSize: Number(chunkSize),
  // PATCH as POST with X-HTTP-Method-Override, as behind proxies that drop PATCH.
  overridePatchMethod: true,
  retryDelays: [0, 500, 1000],
  onError(err) {
    console.error('upload failed: ' + err);
    process.exit(1);
  },
  onSuccess() {
    console.log(upload.url);
  },
});
upload.start();
