# Generates random templates (seeded) over the golden data for a differential run against Go:
#   python3 random_cases.py SEED COUNT  (writes /tmp/diff/cases.json), then render them with go/
#   and run tests/golden.rs with SEALSYNC_TEMPLATE_GOLDEN_DIR=/tmp/diff (see README.md).
import json, random, sys
random.seed(int(sys.argv[1]) if len(sys.argv)>1 else 1)
base=json.load(open(__import__('os').path.join(__import__('os').path.dirname(__file__), 'cases.json')))['data']
STR_ATOMS=['.user','.password','.empty','.num','.csv','.multiline','.unicode','.cert','.b64','.spaced','.long','"a b"','"x:y"','"é"','""','"yes"','"1.5"','"a\\nb"','"  s  "','"<&>"','"%d"','"a,b,,c"']
ANY_ATOMS=['1','0','-3','2.5','true','false','(list)','(dict)','(fromJson .json)','(fromYaml .yaml)','(split "," .csv)','(splitList "," .csv)','(list 1 "a" 2.5)','(dict "k" .user "n" 1)','(fromJson "[1,2.5,null]")','(fromJson "{\\"a\\":{\\"b\\":[1]}}")','$']
L0=["\",\"","\"a\"","\"\"","\"\\n\""]
L1=["\"-\"","\"\"","\"XY\""]
L2=["0","2","4"]
L3=["\",\"","\"\""]
L4=["\"$2$1\"","\"-\"","\"${1}\"","\"\"","\"$$\""]
L5=["\"host\"","\"tags\"","\"nope\""]
L6=["\",\"","\"\"","\"l\"","\"\\n\""]
RX=["\"a+\"","\"(\\\\w)(\\\\w)\"","\"^\"","\"$\"","\"x*\"","\"[,:]\""]
def s_expr(d):
    if d<=0 or random.random()<0.35: return random.choice(STR_ATOMS)
    f=random.choice(['b64enc','b64dec','upper','lower','trim','quote','squote','sha256sum','toJson','toPrettyJson','toYaml','printf','trimPrefix','trimSuffix','replace','indent','nindent','join','regexReplaceAll','default','print','println','index'])
    if f in ('b64enc','b64dec','upper','lower','trim','sha256sum'): return f'({f} {s_expr(d-1)})'
    if f in ('quote','squote','toJson','toPrettyJson','toYaml','print','println'): return f'({f} {a_expr(d-1)})'
    if f=='printf': return '(printf %s %s)'%(random.choice(['"%s"','"%v"','"%q"','"%d"','"%x"','"[%5s]"','"%v-%v"','"%T"','"%.2f"']),a_expr(d-1))
    if f in ('trimPrefix','trimSuffix'): return f'({f} {random.choice(STR_ATOMS)} {s_expr(d-1)})'
    if f=='replace': return f'(replace {random.choice(L0)} {random.choice(L1)} {s_expr(d-1)})'
    if f in ('indent','nindent'): return f'({f} {random.choice(L2)} {s_expr(d-1)})'
    if f=='join': return f'(join {random.choice(L3)} {a_expr(d-1)})'
    if f=='regexReplaceAll': return f'(regexReplaceAll {random.choice(RX)} {s_expr(d-1)} {random.choice(L4)})'
    if f=='default': return f'(default {random.choice(STR_ATOMS)} {a_expr(d-1)})'
    if f=='index': return f'(index (fromJson .json) {random.choice(L5)})'
def a_expr(d):
    r=random.random()
    if r<0.5: return s_expr(d)
    if d<=0 or r<0.75: return random.choice(ANY_ATOMS)
    f=random.choice(['list','dict','fromJson','fromYaml','split','splitList','and','or','not','eq','len','get','hasKey','default'])
    if f=='list': return '(list %s)'%' '.join(a_expr(d-1) for _ in range(random.randint(0,3)))
    if f=='dict': return '(dict %s)'%' '.join(f'{random.choice(STR_ATOMS)} {a_expr(d-1)}' for _ in range(random.randint(0,2)))
    if f=='fromJson': return '(fromJson %s)'%random.choice(['.json','(toJson %s)'%a_expr(d-1),'"[1e6,0.000001,1e21]"','"{\\"b\\":true,\\"a\\":null}"'])
    if f=='fromYaml': return '(fromYaml %s)'%random.choice(['.yaml','(toYaml %s)'%a_expr(d-1),'"a: [1, 2]\\nb: no\\n"','"k: v: x"'])
    if f in ('split','splitList'): return f'({f} {random.choice(L6)} {s_expr(d-1)})'
    if f in ('and','or'): return f'({f} {a_expr(d-1)} {a_expr(d-1)})'
    if f=='not': return f'(not {a_expr(d-1)})'
    if f=='eq': return f'(eq {s_expr(d-1)} {s_expr(d-1)})'
    if f=='len': return f'(len {a_expr(d-1)})'
    if f in ('get','hasKey'): return f'({f} {a_expr(d-1)} {random.choice(STR_ATOMS)})'
    if f=='default': return f'(default {a_expr(d-1)} {a_expr(d-1)})'
def stmt(d):
    r=random.random()
    e=a_expr(3)
    if r<0.5: return '{{ %s }}'%e
    if r<0.6: return '{{ if %s }}T{{ else }}F{{ end }}'%e
    if r<0.7: return '{{ with %s }}[{{ . }}]{{ end }}'%e
    if r<0.85: return '{{ range $k, $v := %s }}{{ $k }}={{ $v }};{{ end }}'%e
    return '{{ %s | %s }}'%(random.choice(STR_ATOMS), random.choice(['upper','quote','b64enc','toJson','toYaml','trim','printf "<%s>"','default "d"','len','sha256sum']))
cases=[]
for i in range(int(sys.argv[2]) if len(sys.argv)>2 else 1500):
    t=' '.join(stmt(3) for _ in range(random.randint(1,3)))
    cases.append({"name":f"r{i}","template":t})
json.dump({"data":base,"cases":cases},open('/tmp/diff/cases.json','w'),indent=1,ensure_ascii=False)
