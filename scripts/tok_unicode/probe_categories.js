const fs=require('fs');
const {Tokenizer}=require('tokenizers');
const tj={version:"1.0",truncation:null,padding:null,added_tokens:[],normalizer:null,
 pre_tokenizer:{type:"Split",pattern:{Regex:"\\p{Cn}"},behavior:"Removed",invert:false},
 post_processor:null,decoder:null,model:{type:"WordLevel",vocab:{"[UNK]":0},unk_token:"[UNK]"}};
fs.writeFileSync('probe.json',JSON.stringify(tj));
const t=Tokenizer.fromFile('probe.json');
const cn=fs.readFileSync('cn13.txt','utf8').split('\n');
const cands=[]; let k=0;
for(let c=0;c<0x110000;c++){ if(c>=0xD800&&c<=0xDFFF) continue; if(cn[k++]==='1') cands.push(c); }
const cats=['Lu','Ll','Lt','Lm','Lo','Mn','Mc','Me','Nd','Nl','No','Pc','Pd','Ps','Pe','Pi','Pf','Po','Sm','Sc','Sk','So','Zs','Zl','Zp','Cc','Cf','Co','Cs'];
const res=cats.map(c=>[c,new RegExp('^\\p{'+c+'}$','u')]);
(async()=>{
  const strs=cands.map(c=>String.fromCodePoint(c));
  const out=[];
  for(let i=0;i<strs.length;i+=50000){
    const encs=await t.encodeBatch(strs.slice(i,i+50000),{addSpecialTokens:false});
    encs.forEach((e,j)=>{ if(e.getIds().length){ const c=cands[i+j]; const s=strs[i+j]; const cat=res.find(([n,r])=>r.test(s)); out.push([c,cat?cat[0]:'Cn']); }});
  }
  // ranges
  const ranges=[]; for(const [c,cat] of out){ const l=ranges[ranges.length-1]; if(l&&l[1]===c-1&&l[2]===cat) l[1]=c; else ranges.push([c,c,cat]); }
  console.error('assigned in onig but Cn in utf8proc:', out.length, 'ranges', ranges.length, 'unknown cat', out.filter(x=>x[1]==='Cn').length);
  fs.writeFileSync('ranges.json',JSON.stringify(ranges));
})();
