/** Images of random bytes for specs that stream a file and compare the copies. */

/** Writes `bytes` random bytes to `path`. */
export async function writeRandomImage(path: string, bytes: number): Promise<void> {
  const image = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i += 65536) {
    crypto.getRandomValues(image.subarray(i, Math.min(bytes, i + 65536)));
  }
  await Deno.writeFile(path, image);
}
