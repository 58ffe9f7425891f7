#include <utf8proc.h>
#include <stdio.h>
/* code points that utf8proc decomposes (canonical or compat) or gives a nonzero combining class */
int main(void){ for (int c=0;c<0x110000;c++){ if(c>=0xD800&&c<=0xDFFF) continue; const utf8proc_property_t *p=utf8proc_get_property(c);
  if (p->category==UTF8PROC_CATEGORY_CN) continue;
  utf8proc_int32_t buf[32]; int lb; utf8proc_ssize_t n=utf8proc_decompose_char(c,buf,32,UTF8PROC_DECOMPOSE|UTF8PROC_COMPAT,&lb);
  if (p->combining_class || n!=1 || buf[0]!=c) printf("%d\n",c);} }
