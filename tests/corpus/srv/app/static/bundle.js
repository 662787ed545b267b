var a=1;
var k="\x41\x4bIA2S7BPPJVSX7NGMNF";
const t=`\u{41}\u{53}IA7SZ7F57H7J7RVWXH`;
var s="\x48\x65llo \u{1F600} \u00e9";
