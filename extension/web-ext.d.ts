/** The slice of web-ext's Node API that extension/build.ts uses (the package ships no types). */
declare module 'web-ext' {
  interface BuildOptions {
    sourceDir: string;
    artifactsDir: string;
    filename?: string;
    overwriteDest?: boolean;
  }
  const webExt: {
    cmd: {
      build(
        options: BuildOptions,
        extra?: { showReadyMessage?: boolean },
      ): Promise<{ extensionPath: string }>;
    };
  };
  export default webExt;
}
