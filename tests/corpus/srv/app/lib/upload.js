'use strict';

const accessKeyId = 'AKIA' + 'X3ZY3Y' + 'YIHZFUU3FM';
const secretAccessKey = ["IlE2Za7yydgUe", "dtHsVQa687Pqhi", "6v1vwDmYdAcWd"].join("");
const sessionToken = `IQoJb3JpZ2lu/Lt4UbIFs8eXW1+G3pRpqBMTKOD1T7Fx0QaHXwYggHLwna+QVAvc0V8Vxe5Ma3GdxVG1leST9sjvxtXRxa7SRf3m` +
  `mXIo4TEwQIHMSgRgnDIq9HgjNYwWR7zfThRlk0CjpbhzGcxLm1M/dYnoRFMee1rrPcV3xNugQkiRTROg0rJo8XXKv2OZRE+n7u7hcAl7DwqhUFs85oOcFIM/NxYFQsA5tAk9ijHCt2A0jIwiX6s49L` +
  `zsYZG1ZNy+y3NY8U5Jcj6zL/NIG7I0GJHtoKTKjctkY8yNN4Jcpce1z7Kjt/L/l2vAK6BN+lo6DoGlPZGFX8XbsKhQvTZPrvOUC60e/W4MvAR5c0bXTCp9jJUkwLl0fJnH02jfUgWSzLMBBymrMIpLaXAJO7MCBPV58iAWLTR4GzhBe6jbmfVyGuPdvZ80nEHpWuDP7v2uYEof92tHttMaAeXW61XJNfyC60mT6Y4a9jPeIXPTcHrl9Prx+4JD8QU8+ZDXLDN1aOo/4pNtN/p6pkAQ8qrpAH5J/pnCT4unj2/LZy1YFPEx6uqBItZQb/ya/sFums6Mas4MzBVfvKepXv8aT4QDgGl9NFvU3MH0mmEEU8nqy2VePeSUwOYoNHti0rPowKjZObXvqKqbDO3MidOrFr6iVBO7egcrNVg+peFz0VOyX4EMOrV3/4Fq5NypkxRx8rK8oPjdnAfY23jqpuKjiCWiojP5ZzXTXcrMmLUXEv3Eeo1DP0oD3upUQcKTJi18jJSg711H1xKy7K1VkylW4W0CUn4SGYTIXlr3T8+yVcFv5`;
const path = ["srv", "app", "lib"].join("/");
const k = 'AKIA' + cfg.rest;
