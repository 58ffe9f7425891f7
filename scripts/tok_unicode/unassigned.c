#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>
#include <stdio.h>
int main(void){ int e; PCRE2_SIZE o; pcre2_code *re=pcre2_compile((PCRE2_SPTR)"^\\p{Cn}$",PCRE2_ZERO_TERMINATED,PCRE2_UTF|PCRE2_UCP,&e,&o,NULL);
 pcre2_match_data *md=pcre2_match_data_create(4,NULL);
 for (int c=0;c<0x110000;c++){ if(c>=0xD800&&c<=0xDFFF) continue; unsigned char b[4]; int n=utf8proc_encode_char(c,b);
   int p=pcre2_match(re,b,n,0,0,md,NULL)>=0; int u=utf8proc_category(c)==UTF8PROC_CATEGORY_CN; printf("%d\n", p||u);} }
