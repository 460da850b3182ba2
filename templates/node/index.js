// {{name}}: a Tern node function.
//
// handle(req, ctx) runs once per call. req has method, path, query (the raw string), params
// (the parsed query), headers, body (a Buffer), text() and json(). Return a string or Buffer (the
// body), an object (sent as JSON), {status, headers, body}, or a fetch Response. Async is fine.
// console.log goes to the logs. Local packages: "dependencies": {"x": "file:./lib/x"} in package.json.
export default async function handle(req, ctx) {
  const name = req.params.name || req.text().trim() || 'world';
  console.log('greeting', name, 'in call', ctx.callId);
  return { message: `${process.env.GREETING ?? 'Hello'}, ${name}!`, function: ctx.function };
}
