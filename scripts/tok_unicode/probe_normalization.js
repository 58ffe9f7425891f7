const fs=require('fs');
const {Tokenizer}=require('tokenizers');
function bytesChar(){const bs=[];for(let b=33;b<=126;b++)bs.push(b);for(let b=161;b<=172;b++)bs.push(b);for(let b=174;b<=255;b++)bs.push(b);const cs=bs.slice();let n=0;for(let b=0;b<256;b++){if(!bs.includes(b)){bs.push(b);cs.push(256+n);n++;}}const m={};bs.forEach((b,i)=>m[b]=String.fromCodePoint(cs[i]));return m;}
const bc=bytesChar(); const vocab={}; for(let b=0;b<256;b++) vocab[bc[b]]=b;
const mk=(norm)=>{const tj={version:"1.0",truncation:null,padding:null,added_tokens:[],normalizer:{type:norm},
 pre_tokenizer:{type:"ByteLevel",add_prefix_space:false,trim_offsets:false,use_regex:false},post_processor:null,
 decoder:{type:"ByteLevel",add_prefix_space:false,trim_offsets:false,use_regex:false},
 model:{type:"BPE",vocab,merges:[],dropout:null,unk_token:null,continuing_subword_prefix:null,end_of_word_suffix:null,fuse_unk:false,byte_fallback:false}};
 fs.writeFileSync('n_'+norm+'.json',JSON.stringify(tj)); return Tokenizer.fromFile('n_'+norm+'.json');};
(async()=>{
  const cands=fs.readFileSync('ncands.txt','utf8').trim().split('\n').map(Number);
  const out={};
  for (const norm of ['NFKD','NFD']) {
    const t=mk(norm);
    const strs=cands.map(c=>'x\u0345'+String.fromCodePoint(c));
    const encs=await t.encodeBatch(strs,{addSpecialTokens:false});
    const dec=await t.decodeBatch(encs.map(e=>e.getIds()),false);
    out[norm]=dec;
  }
  fs.writeFileSync('nres.json',JSON.stringify({cands,out}));
})();
