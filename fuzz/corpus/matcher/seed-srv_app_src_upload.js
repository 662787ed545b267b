const AWS = require('aws-sdk');

const s3 = new AWS.S3({
  accessKeyId: 'AKIA57QNDFWRD37QH35E',
  secretAccessKey: 'ae4qVoC9hhyM1aQnSrY5l9QcDx/0oHmEcuwU5kuT',
  region: 'us-east-1',
});

// e.g. accessKeyId: 'AKIAIOSFODNN7EXAMPLE'
const cacheBuster = 'd19YTDEZ0nCWXgBz7J36WNJG9WfVUenwMM4cgva7';
const demoJwt = 'eyJhbGciOiJSUzI1NiJ9.LyGZMQ6qRroFGKecsRmCte0E-qa1HuZEjt8HdphWD2pV3Tq-pF3uFUEhK6O7Y-ABFEoBYUT_XN2OUbzV9hMHW5GPaV1W9llSuomPrD9Qtd8kecsVWW-HadBs.HtGeQHpL532rUQIHJmNszn9BCxBPpr_eQvdDpHxa9BgORw8UhZKdBXmf5FSXJQpQPGBtst5fWdWD_lmAjQIHbZ';
module.exports = { s3 };
