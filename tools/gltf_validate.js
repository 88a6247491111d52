// Validates a .glb with Khronos' glTF validator (npm gltf-validator, found through NODE_PATH):
// prints the issue counts and the first messages as JSON, exits 1 on any error.
// Usage: node tools/gltf_validate.js FILE.glb
const fs = require("fs");
const validator = require("gltf-validator");
const bytes = new Uint8Array(fs.readFileSync(process.argv[2]));
validator
  .validateBytes(bytes)
  .then((r) => {
    const i = r.issues;
    console.log(JSON.stringify({ errors: i.numErrors, warnings: i.numWarnings, infos: i.numInfos, messages: i.messages.slice(0, 5) }));
    process.exit(i.numErrors ? 1 : 0);
  })
  .catch((e) => {
    console.error(e);
    process.exit(2);
  });
