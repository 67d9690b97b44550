import torch, copy, time
from blip_pose.presets import build_preset
from blip_pose.sdpa import use_sdpa
from blip_pose.generation import encode_loss_generate
torch.manual_seed(0)
m,p=build_preset('tiny'); m.eval()
s=copy.deepcopy(m); print(use_sdpa(s))
px=torch.randn(3,3,128,128)
ids=torch.randint(10,1000,(3,20)); am=torch.ones_like(ids); am[1,15:]=0; am[2,8:]=0
lab=ids.masked_fill(am==0,-100)
a=m(pixel_values=px,input_ids=ids,attention_mask=am,labels=lab); b=s(pixel_values=px,input_ids=ids,attention_mask=am,labels=lab)
print((a.logits-b.logits).abs().max(), a.loss, b.loss)
ga=m.generate(pixel_values=px,max_new_tokens=20); gb=s.generate(pixel_values=px,max_new_tokens=20); print(torch.equal(ga,gb))
m.train(); s.train()
