/** JSON.parse that answers undefined for text that is not JSON (error bodies, HTML pages). */
export function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
