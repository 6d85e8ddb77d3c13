// Drives tokenpipe with the official OpenAI SDK, unchanged, and prints what it saw as one JSON line.
// Run by OpenAiSdkIT: TOKENPIPE_KEY=<API key> node sdk-check.mjs <base URL ending in /v1>.
// Assertions live in the Java test.
import OpenAI from 'openai';
import { VERSION } from 'openai/version';

const baseURL = process.argv[2];
const client = new OpenAI({ baseURL, apiKey: process.env.TOKENPIPE_KEY, maxRetries: 0, timeout: 60_000 });
const out = { sdkVersion: VERSION, node: process.version };

// 1. A streamed completion with a usage chunk, read through the SDK's own stream parser.
{
  const { data: stream, response } = await client.chat.completions.create({
    model: 'synthetic',
    messages: [{ role: 'user', content: 'stream me something' }],
    stream: true,
    stream_options: { include_usage: true },
    seed: 7,
    options: { tokens: 24 },
  }).withResponse();
  const seen = { text: '', chunks: 0, ids: new Set(), objects: new Set(), roles: [], finishReasons: [], usage: null };
  for await (const chunk of stream) {
    seen.chunks++;
    seen.ids.add(chunk.id);
    seen.objects.add(chunk.object);
    if (chunk.usage) seen.usage = chunk.usage;
    for (const choice of chunk.choices) {
      if (choice.delta?.role) seen.roles.push(choice.delta.role);
      if (choice.delta?.content) seen.text += choice.delta.content;
      if (choice.finish_reason) seen.finishReasons.push(choice.finish_reason);
    }
  }
  out.stream = { ...seen, ids: [...seen.ids], objects: [...seen.objects],
    sessionId: response.headers.get('tokenpipe-session-id'), resumeUrl: response.headers.get('tokenpipe-resume-url') };
}

// 2. A whole completion (stream: false) in the same session, named by the header.
{
  const completion = await client.chat.completions.create({
    model: 'synthetic',
    messages: [{ role: 'user', content: 'and now all at once' }],
    max_completion_tokens: 10,
    seed: 3,
  }, { headers: { 'Tokenpipe-Session-Id': out.stream.sessionId } });
  out.whole = { id: completion.id, object: completion.object, content: completion.choices[0].message.content,
    role: completion.choices[0].message.role, finishReason: completion.choices[0].finish_reason, usage: completion.usage };
}

// 3. The SDK's stream helper (accumulates the message itself).
{
  const runner = client.chat.completions.stream({
    model: 'synthetic',
    messages: [{ role: 'user', content: 'helper' }],
    seed: 11,
    options: { tokens: 8 },
  });
  const final = await runner.finalChatCompletion();
  out.helper = { content: final.choices[0].message.content, finishReason: final.choices[0].finish_reason };
}

// 4. A refused request surfaces as the SDK's typed error.
try {
  await client.chat.completions.create({ model: 'synthetic', messages: [{ role: 'user', content: 'x' }], top_p: 0.5 });
  out.error = null;
} catch (e) {
  out.error = { name: e.constructor.name, status: e.status, type: e.type, code: e.code, param: e.param,
    isBadRequest: e instanceof OpenAI.BadRequestError };
}

console.log(JSON.stringify(out));
