var a=1;
const cfg={id:"\x41\x4bIA7SZ7F57H7J7RVWXH",secret:process.env.S};
const t=`\u0041\u{53}IAPC66AHAZZODMXGRZ`;
var k="\x41\x4bIA6NURBUIJ347NASQ5";
var s="\x48\x65llo \u{1F600} \u00e9";
